import Foundation

/// A sweep as its author wrote it: any JSON value, read once. The service's OpenAPI document types
/// it in full (`SweepSpec`) for clients and fuzzers, and the generated code decodes the request
/// body straight into this type (`typeOverrides`), so the server reads the body once and
/// `SweepSpec` validates it with messages that name the field (a generated decoder would answer
/// "body" for any mistake in it).
public struct SweepDocument: Codable, Hashable, Sendable {
    let value: JSONValue

    public init(from decoder: any Decoder) throws { value = try JSONValue(from: decoder) }

    public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }

    /// Parses JSON text (a file given to `prunelab submit`, a test).
    public init(parsing data: Data) throws(SweepError) {
        do {
            value = try JSONValue.parse(data)
        } catch {
            throw SweepError(field: "body", reason: "malformed JSON")
        }
    }

    /// The document as compact JSON with sorted keys (what is stored when the text as sent is not
    /// at hand).
    public var text: String { String(decoding: value.serialized(), as: UTF8.self) }
}

/// A rejected sweep, naming the field (dotted path, `grid.<axis>` or the field of the first bad
/// cell).
public struct SweepError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// One run of a sweep: its completed config and the keys of the runs it needs first.
public struct SweepRun: Sendable {
    public var config: RunConfig
    public var parents: [String]

    public init(config: RunConfig, parents: [String]) {
        self.config = config
        self.parents = parents
    }
}

/// A validated sweep: `{"name": …, "base": {run config}, "grid": {field: [values], …},
/// "max_attempts": n}`. The grid is a Cartesian product over its fields (in sorted order); a field
/// may be dotted (`training.batch_size`) to reach a nested key, and its value replaces base's in
/// every cell. `runs()` expands it.
public struct SweepSpec: Sendable {
    public var name: String
    /// Attempts each run gets before it fails for good (default 3).
    public var maxAttempts: Int
    /// Fields every cell shares (a JSON object's fields).
    var base: [String: JSONValue]
    /// Grid axes, sorted by field.
    var axes: [(field: String, path: [String], values: [JSONValue])]

    /// At most this many cells per sweep (a typo in a grid should not enqueue millions of runs).
    public static let maximumCells = 100_000
    static let keys = ["name", "base", "grid", "max_attempts"]

    /// The number of grid axes.
    public var axisCount: Int { axes.count }

    /// Checks a document's shape: its keys, name, attempts and grid. Cells are checked by `runs()`.
    /// A value given as null is refused like any other of the wrong type.
    public init(_ document: SweepDocument) throws(SweepError) {
        guard case let .object(top) = document.value else { throw SweepError(field: "body", reason: "a sweep is a JSON object") }
        if let unknown = top.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw SweepError(field: unknown, reason: "unknown key (a sweep has name, base, grid and max_attempts)")
        }
        maxAttempts = 3
        if let given = top["max_attempts"] {
            let integral: Double? = switch given {
            case let .integer(value): Double(value)
            case let .double(value) where value == value.rounded(): value
            default: nil
            }
            guard let integral, (1...20).contains(integral) else {
                throw SweepError(field: "max_attempts", reason: "must be an integer from 1 to 20, got \(given.text)")
            }
            maxAttempts = Int(integral)
        }
        // Lengths in Unicode code points, as JSON Schema's maxLength counts them.
        guard case let .string(name)? = top["name"], !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
              name.unicodeScalars.count <= 200 else {
            throw SweepError(field: "name", reason: "a non-empty string of at most 200 characters is required")
        }
        self.name = name
        switch top["base"] {
        case nil: base = [:]
        case let .object(fields)?: base = fields
        default: throw SweepError(field: "base", reason: "must be an object of run config fields")
        }
        guard case let .object(grid)? = top["grid"] else { throw SweepError(field: "grid", reason: "must be an object of field: [values]") }
        guard !grid.isEmpty else { throw SweepError(field: "grid", reason: "is empty: give at least one field with values") }
        axes = []
        var cells = 1
        for field in grid.keys.sorted() {
            guard case let .array(values)? = grid[field] else { throw SweepError(field: "grid.\(field)", reason: "must be a list of values") }
            guard !values.isEmpty else { throw SweepError(field: "grid.\(field)", reason: "is an empty list") }
            let path = field.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { throw SweepError(field: "grid.\(field)", reason: "is not a field path") }
            // One axis inside another's value would overwrite part of it in some cells only.
            if let outer = axes.first(where: { path.starts(with: $0.path) }) {
                throw SweepError(field: "grid.\(field)", reason: "lies inside grid.\(outer.field); give each field in one place")
            }
            cells *= values.count
            guard cells <= Self.maximumCells else { throw SweepError(field: "grid", reason: "more than \(Self.maximumCells) cells") }
            axes.append((field, path, values))
        }
        // A field the grid sets replaces base's in every cell, so base's value would never be
        // validated nor used: refused, as is a grid field inside a base value that is no object.
        for axis in axes {
            var node = JSONValue.object(base)
            for (depth, key) in axis.path.enumerated() {
                guard case let .object(fields) = node else {
                    throw SweepError(field: "grid.\(axis.field)", reason: "base.\(axis.path[..<depth].joined(separator: ".")) is not an "
                                     + "object, yet the grid sets a field inside it")
                }
                guard let next = fields[key], next != .null else { break }
                if depth == axis.path.count - 1 {
                    throw SweepError(field: "grid.\(axis.field)", reason: "also given in base; give each field in one place")
                }
                node = next
            }
        }
    }

    /// Parses and checks JSON text.
    public init(parsing data: Data) throws(SweepError) {
        try self.init(SweepDocument(parsing: data))
    }

    /// The runs of the sweep, parents first, each once (cells that mean the same run collapse by
    /// key). Every cell is completed and validated as a `RunConfig`; the first invalid one is
    /// refused naming its field and its grid values.
    public func runs() throws(SweepError) -> [SweepRun] {
        var runs: [SweepRun] = []
        var seen = Set<String>()
        let counts = axes.map(\.values.count)
        for cell in 0..<counts.reduce(1, *) {
            var config = base
            var remainder = cell
            var chosen: [JSONValue] = []
            for (axis, count) in zip(axes, counts).reversed() {
                let value = axis.values[remainder % count]
                remainder /= count
                Self.set(value, at: axis.path[...], in: &config)
                chosen.append(value)
            }
            let parsed: RunConfig
            do {
                parsed = try RunConfig.completed(.object(config))
            } catch {
                // Named only for the cell refused: up to 100 000 cells are expanded.
                let described = zip(axes, chosen.reversed()).map { "\($0.field)=\($1.text)" }.joined(separator: ", ")
                throw SweepError(field: error.field ?? "base", reason: "cell \(cell) (\(described)): \(error)")
            }
            if let parent = parsed.parent(), seen.insert(parent.key).inserted {
                runs.append(SweepRun(config: parent, parents: []))
            }
            if seen.insert(parsed.key).inserted {
                runs.append(SweepRun(config: parsed, parents: parsed.parent().map { [$0.key] } ?? []))
            }
        }
        return runs
    }

    private static func set(_ value: JSONValue, at path: ArraySlice<String>, in object: inout [String: JSONValue]) {
        guard let first = path.first else { return }
        guard path.count > 1 else {
            object[first] = value
            return
        }
        var nested: [String: JSONValue] = if case let .object(fields)? = object[first] { fields } else { [:] }
        set(value, at: path.dropFirst(), in: &nested)
        object[first] = .object(nested)
    }
}
