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

/// Any request, raw: status, headers and body text.
func rawRequestFull(
    _ url: String, method: HTTPMethod = .POST, token: String? = nil, contentType: String? = nil, body: [UInt8] = []
) async throws -> (status: Int, headers: HTTPHeaders, text: String) {
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
        let data = try await resp.body.collect(upTo: 4 << 20)
        try await client.shutdown()
        return (Int(resp.status.code), resp.headers, String(decoding: data.readableBytesView, as: UTF8.self))
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// A raw HTTP request, for bad-input tests: its status and its body as a JSON object (empty
/// when it is not one).
func rawRequest(
    _ url: String, method: HTTPMethod = .POST, token: String? = nil, contentType: String? = nil, body: [UInt8] = []
) async throws -> (status: Int, json: [String: Any]) {
    let r = try await rawRequestFull(url, method: method, token: token, contentType: contentType, body: body)
    let json = (try? JSONSerialization.jsonObject(with: Data(r.text.utf8))) as? [String: Any] ?? [:]
    return (r.status, json)
}

