import Foundation
import Hummingbird

/// The one error shape that crosses the HTTP boundary: `{"error": "...", "field": "..."}` with a
/// 4xx status. Handlers of the OpenAPI document return it as a documented response; routes
/// outside it (and failures before a handler runs) throw it.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var error: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, _ error: String, field: String? = nil) {
        self.status = status
        self.error = error
        self.field = field
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: String] = ["error": error]
        if let field { object["field"] = field }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    var body: Components.Schemas._Error { .init(error: error, field: field) }
}
