import Testing
import FolioServer

@Suite struct ServerConfigurationTests {
    @Test func defaultsMatchMongoDBAndTheREADME() {
        let c = ServerConfiguration()
        #expect(c.port == 27017)
        #expect(c.bindAddress == "127.0.0.1")
        #expect(c.dataPath == "./folio-data")
        #expect(c.validationError() == nil)
    }

    @Test(arguments: [
        (ServerConfiguration(port: 70000), "port 70000 is not between 0 and 65535"),
        (ServerConfiguration(bindAddress: ""), "the bind address is empty"),
        (ServerConfiguration(dataPath: ""), "the data path is empty"),
    ])
    func invalidConfigurationsAreRejected(configuration: ServerConfiguration, message: String) {
        #expect(configuration.validationError() == message)
    }
}
