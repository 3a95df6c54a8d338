// swift-tools-version:6.1
import PackageDescription

// Benchmarks live apart from the main package so `swift test` never builds them.
// Run with scripts/bench (release builds); record results in BENCHMARKS.md.
let package = Package(
    name: "FolioBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Folio", path: ".."),
        // ordo-one/benchmark: time and allocation counts per benchmark. Only the malloc
        // interposer trait: the runtime interposer's package is not available here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
        // The embedded library's yardstick (issue 26): GRDB over the same system SQLite.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .executableTarget(
            name: "FolioBSONBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FolioBSON", package: "Folio"),
            ],
            path: "Benchmarks/FolioBSONBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FolioQueryBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FolioBSON", package: "Folio"),
                .product(name: "FolioQuery", package: "Folio"),
            ],
            path: "Benchmarks/FolioQueryBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .systemLibrary(name: "CSQLiteBench", path: "Sources/CSQLiteBench", pkgConfig: "sqlite3"),
        .executableTarget(
            name: "FolioEngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FolioEngine", package: "Folio"),
                "CSQLiteBench",
            ],
            path: "Benchmarks/FolioEngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EmbeddedVsGRDB",
            dependencies: [
                .product(name: "Folio", package: "Folio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/EmbeddedVsGRDB"
        ),
    ]
)
