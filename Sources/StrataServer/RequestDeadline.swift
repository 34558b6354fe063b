import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Raised into a request's body stream when the body did not arrive in time.
struct RequestDeadlineExceeded: Error {
    let seconds: Int
}

/// Bounds how long a client may take to send a request, so that a client sending one byte a
/// second cannot hold a connection (and the memory behind it) for long. Part of the HTTP edge.
///
/// - The headers must arrive within `timeout` of the connection opening, or of the previous
///   response on a kept-alive connection: else the connection is closed (there is no request
///   to answer yet).
/// - The body must arrive within `timeout` of the headers: else the request's handler is told
///   (its body stream fails, so nothing is applied), the client gets `408` with the usual JSON
///   error body and `Connection: close`, and the connection is closed.
///
/// - An attachment upload (`PUT …/blobs/…`) may take longer than `timeout` over a slow link
///   (3 MB at 64 kbit/s is about 6 minutes): its body must keep arriving instead, the deadline
///   starting again each time another `progressBytes` of it arrive (64 KiB: 8 s at 64 kbit/s;
///   a client sending a byte a second is still cut after `timeout`).
///
/// Handling a complete request (applying a push, say) is not bounded here.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State { case waitingForHead, readingBody, handling, timedOut }

    let timeout: TimeAmount
    let seconds: Int
    private var state = State.waitingForHead
    /// The response to the request being read was written before its body ended (an early
    /// refusal, say): when the body ends, the next request's headers are waited for.
    private var answeredEarly = false
    private var timer: Scheduled<Void>?
    /// The request being read is an upload whose deadline restarts as its body arrives.
    private var progressive = false
    private var bytesSinceArmed = 0
    static let progressBytes = 64 << 10

    init(seconds: Int) {
        self.seconds = max(1, seconds)
        timeout = .seconds(Int64(max(1, seconds)))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil && state == .waitingForHead { arm(context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .timedOut { return }  // the request was answered with 408: drop the rest
        switch unwrapInboundIn(data) {
        case .head(let head):
            state = .readingBody
            answeredEarly = false
            progressive = head.method == .put && (head.path ?? "").contains("/blobs/")
            bytesSinceArmed = 0
            arm(context)
        case .body(let buffer):
            if progressive {
                bytesSinceArmed += buffer.readableBytes
                if bytesSinceArmed >= Self.progressBytes {
                    bytesSinceArmed = 0
                    arm(context)
                }
            }
        case .end:
            if answeredEarly {
                state = .waitingForHead
                arm(context)
            } else {
                state = .handling
                disarm()
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if state == .timedOut {
            // This handler has answered already; the connection is closing.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if case .end = unwrapOutboundIn(data) {
            if state == .handling {
                state = .waitingForHead
                arm(context)
            } else if state == .readingBody {
                answeredEarly = true  // the body deadline keeps running until the body ends
            }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            timer = nil
            expired(context)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func expired(_ context: ChannelHandlerContext) {
        switch state {
        case .waitingForHead:
            context.close(promise: nil)
        case .readingBody:
            state = .timedOut
            // The handler waiting for the body learns that it will not come.
            context.fireErrorCaught(RequestDeadlineExceeded(seconds: seconds))
            let body = SyncHTTPServer.errorBody(SyncFailure(.requestTimeout(seconds: seconds)))
            var head = HTTPResponse(status: .init(code: 408))
            head.headerFields[.contentType] = SyncHTTPServer.jsonMediaType
            head.headerFields[.contentLength] = String(body.count)
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .handling, .timedOut:
            break
        }
    }
}
