// swift-tools-version:6.0
import PackageDescription

// Layers (dependencies point down only), see Docs/ARCHITECTURE.md:
//   folio (CLI) -> FolioWire -> FolioServer (commands) -> FolioEngine; Folio (library) -> FolioServer -> FolioCollation -> FolioQuery, FolioStorage -> FolioBSON
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Folio",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "FolioBSON", targets: ["FolioBSON"]),
        .library(name: "FolioQuery", targets: ["FolioQuery"]),
        .library(name: "FolioEngine", targets: ["FolioEngine"]),
        .library(name: "Folio", targets: ["Folio"]),
        .executable(name: "folio", targets: ["folio"]),
    ],
    dependencies: [
        // The CLI's flags, `--help` and `--version`: the standard Swift argument parser.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        // `swift package generate-documentation --target Folio`: the library's DocC reference.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // The wire server's networking (FolioWire only; the embedded library builds without it).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        // Deque: a connection's queue of pending requests (FolioServer).
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        // The server's log (MongoDB's structured JSON lines), FolioServer only.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Metrics: the swift-metrics API in the server, exposed by swift-prometheus on
        // `--metrics-port` (FolioServer only).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // `folio serve`'s lifecycle: its services run in a ServiceGroup and stop gracefully on
        // SIGINT/SIGTERM or the shutdown command (the folio executable only).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // SCRAM authentication's hashes, HMACs and PBKDF2 (FolioServer only).
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        // TLS on the wire server (FolioServer only).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        // Client certificates' subject names for MONGODB-X509 authentication (FolioServer only).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
    ],
    targets: [
        .target(name: "FolioBSON", swiftSettings: swiftSettings),
        // Shared state's lock (SwiftNIO's NIOLock: a pthread mutex; see Locked.swift for why
        // not Synchronization.Mutex).
        .target(name: "FolioLocks", dependencies: [.product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
                swiftSettings: swiftSettings),
        // PCRE2 from the system: MongoDB's own regex engine, so $regex patterns and options
        // behave exactly as on mongod. Its runtime library is on every Debian system (grep needs
        // it); Sources/CPCRE2/shim.h declares the few functions used, so no -dev package is needed.
        .systemLibrary(name: "CPCRE2"),
        // Spherical geometry for 2dsphere indexes and geo queries: GeoJSON, S2 cell ids and coverings
        // (pure Swift; see Sources/FolioGeo/CellID.swift for why not Debian's libs2).
        .target(name: "FolioGeo", dependencies: ["FolioBSON"], swiftSettings: swiftSettings),
        .target(name: "FolioQuery", dependencies: ["FolioBSON", "FolioLocks", "FolioGeo", "CPCRE2"], swiftSettings: swiftSettings),
        // Vector search: distance kernels and the HNSW graph (pure Swift, no dependencies).
        .target(name: "CVectorKernels"),
        .target(name: "FolioVector", dependencies: ["CVectorKernels", "FolioLocks"], swiftSettings: swiftSettings),
        // SQLite from the system (Debian libsqlite3-dev): the embedded storage engine.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "FolioStorage", dependencies: ["FolioBSON", "FolioLocks", "CSQLite"], swiftSettings: swiftSettings),
        // Collations (locale-aware string comparison) over the toolchain's ICU; the only target
        // that touches it.
        .target(name: "FolioCollation", dependencies: ["FolioQuery"], swiftSettings: swiftSettings,
                linkerSettings: [.linkedLibrary("_FoundationICU", .when(platforms: [.linux]))]),
        .systemLibrary(name: "CStemmer"),
        // memmem from the C library (phrase search in linear time).
        .systemLibrary(name: "CStringSearch"),
        .target(name: "FolioText", dependencies: ["FolioBSON", "FolioLocks", "FolioQuery", "CStemmer", "CStringSearch"], swiftSettings: swiftSettings,
                linkerSettings: [.linkedLibrary("_FoundationICU", .when(platforms: [.linux]))]),
        .target(name: "FolioEngine", dependencies: ["FolioQuery", "FolioStorage", "FolioCollation", "FolioText", "FolioVector",
                                                   .product(name: "DequeModule", package: "swift-collections")],
                swiftSettings: swiftSettings),
        .target(name: "Folio", dependencies: ["FolioEngine", "FolioServer"], swiftSettings: swiftSettings),
        // The embedded library in use: `swift run ChatStore`.
        .executableTarget(name: "ChatStore", dependencies: ["Folio"], path: "Examples/ChatStore", swiftSettings: swiftSettings),
        // zlib for OP_COMPRESSED (the system libz).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The commands: dispatcher, sessions, transactions, views, security, wire message
        // codec. No networking, so the embedded library runs the same commands (`runCommand`).
        .target(
            name: "FolioServer",
            dependencies: [
                "FolioEngine", "CZlib",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The network: the wire server over SwiftNIO, TLS, the metrics endpoint, the no-op server.
        .target(
            name: "FolioWire",
            dependencies: [
                "FolioServer", "FolioEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Hostile command generation and an in-process sandbox to run it in: the command fuzzer,
        // `folio hostile-commands` (the chaos test's source) and the fuzz-regression replay.
        .target(name: "FolioFuzzing", dependencies: ["FolioServer", "FolioEngine"], swiftSettings: swiftSettings),
        // libFuzzer target when built by scripts/fuzz (-DFUZZING); a replayer otherwise.
        .executableTarget(name: "FolioCommandFuzzer", dependencies: ["FolioFuzzing"], path: "Fuzz/Commands",
                          swiftSettings: swiftSettings),
        // The `$search` parser and matcher under libFuzzer (scripts/fuzz text); a replayer otherwise.
        .executableTarget(name: "FolioTextFuzzer", dependencies: ["FolioText"], path: "Fuzz/Text",
                          swiftSettings: swiftSettings),
        // GeoJSON parsing, coverings and distances under libFuzzer (scripts/fuzz geo); a replayer otherwise.
        .executableTarget(name: "FolioGeoFuzzer", dependencies: ["FolioGeo"], path: "Fuzz/Geo",
                          swiftSettings: swiftSettings),
        .executableTarget(
            name: "folio",
            dependencies: [
                "FolioServer", "FolioWire", "Folio", "FolioEngine", "FolioStorage", "FolioFuzzing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(name: "FolioTestSupport", dependencies: ["FolioBSON", "FolioQuery"], path: "Tests/FolioTestSupport"),
        .testTarget(name: "FolioBSONTests", dependencies: ["FolioBSON", "FolioTestSupport"],
                    resources: [.copy("FuzzRegressions")]),
        .testTarget(name: "FolioGeoTests", dependencies: ["FolioGeo", "FolioBSON"], resources: [.copy("GeoRegressions")]),
        .testTarget(name: "FolioVectorTests", dependencies: ["FolioVector"]),
        .testTarget(name: "FolioQueryTests", dependencies: ["FolioQuery", "FolioTestSupport"]),
        .testTarget(name: "FolioStorageTests", dependencies: ["FolioStorage", "FolioTestSupport"]),
        .testTarget(name: "FolioTextTests", dependencies: ["FolioText", "FolioTestSupport"], resources: [.copy("SearchRegressions")]),
        .testTarget(name: "FolioEngineTests", dependencies: ["FolioEngine", "FolioTestSupport"]),
        .testTarget(name: "FolioServerTests", dependencies: ["FolioServer", "FolioWire", "FolioTestSupport",
                                                            .product(name: "MetricsTestKit", package: "swift-metrics"),
                                                            .product(name: "Prometheus", package: "swift-prometheus"),
                                                            .product(name: "NIOPosix", package: "swift-nio"),
                                                            .product(name: "NIOEmbedded", package: "swift-nio"),
                                                            .product(name: "NIOTLS", package: "swift-nio")],
                    resources: [.copy("FuzzRegressions")]),
        .testTarget(name: "FolioTests", dependencies: ["Folio", "FolioServer", "FolioTestSupport"]),
        .testTarget(name: "FolioFuzzingTests", dependencies: ["FolioFuzzing", "FolioTestSupport"],
                    resources: [.copy("CommandRegressions")]),
    ],
    swiftLanguageModes: [.v6]
)
