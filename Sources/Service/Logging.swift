import Foundation
import Logging

/// How `serve` and `worker` write their logs on stderr: `text` (swift-log's stream handler:
/// time, level, label, key=value metadata, message) or `json` (one object per line, for log
/// shippers: {"time", "level", "label", "message", …metadata}).
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json
}

/// A logger writing `format` to stderr at `level`, without touching the process-wide
/// LoggingSystem (so libraries and tests keep theirs).
public func makeLogger(label: String, level: Logger.Level, format: LogFormat) -> Logger {
    var logger: Logger
    switch format {
    case .text: logger = Logger(label: label) { TextLogHandler(label: $0) }
    case .json: logger = Logger(label: label) { JSONLogHandler(label: $0) }
    }
    logger.logLevel = level
    return logger
}

/// `2026-11-25T18:50:45.123Z info prunelab.serve: sweep=1 run=… message` on stderr. Unlike
/// swift-log's StreamLogHandler it formats metadata only when a line is written (the HTTP server
/// sets request metadata on every request, almost all of which log nothing).
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = (metadataProvider?.get() ?? [:]).merging(metadata, uniquingKeysWith: { $1 })
            .merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        var line = logTimestamp()
        line += " \(event.level) \(label):"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        if let error = event.error { line += " error=\(error)" }
        line += " \(event.message)\n"
        writeLogLine(Data(line.utf8))
    }
}

/// One JSON object per line on stderr.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [:]
        let provided = metadataProvider?.get() ?? [:]
        for (key, value) in provided.merging(metadata, uniquingKeysWith: { $1 }).merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = Self.json(value)
        }
        if let error = event.error { object["error"] = "\(error)" }
        object["time"] = logTimestamp()
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = event.message.description
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        writeLogLine(line)
    }

    static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case let .string(string): return string
        case let .stringConvertible(convertible): return convertible.description
        case let .array(values): return values.map(json)
        case let .dictionary(values): return values.mapValues(json)
        }
    }
}

/// ISO-8601 UTC with milliseconds, as both formats print it.
private func logTimestamp() -> String {
    Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
}

private let stderrLock = NSLock()

/// One whole line on stderr: lines from concurrent loggers never interleave.
private func writeLogLine(_ line: Data) {
    stderrLock.withLock { FileHandle.standardError.write(line) }
}
