import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// A raw HTTP request, for bad-input tests.
func rawRequest(
    _ url: String, method: HTTPMethod = .POST, token: String? = nil, contentType: String? = nil, body: [UInt8] = []
) async throws -> (status: Int, json: [String: Any]) {
    var config = HTTPClient.Configuration()
    config.decompression = .disabled
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var req = HTTPClientRequest(url: url)
    req.method = method
    if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let contentType { req.headers.add(name: "Content-Type", value: contentType) }
    if method == .POST { req.body = .bytes(ByteBuffer(bytes: body)) }
    do {
        let resp = try await client.execute(req, timeout: .seconds(30))
        let data = try await resp.body.collect(upTo: 1 << 20)
        try await client.shutdown()
        let json = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(resp.status.code), json)
    } catch {
        try? await client.shutdown()
        throw error
    }
}

