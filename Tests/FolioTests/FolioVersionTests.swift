import Testing
import Folio

@Suite struct FolioVersionTests {
    @Test func versionLineNamesFolioAndTheMongoDBRelease() {
        #expect(FolioVersion.description == "folio \(FolioVersion.folio) (MongoDB 8.0.0 compatible)")
        #expect(FolioVersion.compatibleMongoDB.hasPrefix("8.0"))
    }
}
