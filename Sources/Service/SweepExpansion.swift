import Experiments
import Foundation
import Store

/// A sweep spec: `{"name": …, "base": {RunConfig fields}, "grid": {field: [values], …}}`. The grid
/// is a Cartesian product; fields may be dotted (`training.batch_size`) to reach nested keys.
public struct SweepSpec: Sendable {
    public var name: String
    /// The base config (a JSON object).
    public var base: [String: any Sendable]
    /// Grid axes in the order given (values are JSON values).
    public var axes: [(field: String, values: [any Sendable])]
    /// The submitted document, stored with the sweep.
    public var document: String
    /// Attempts each run gets before it fails for good (`"max_attempts"`, default 3).
    public var maxAttempts = 3

    /// At most this many cells per sweep (a typo in a grid should not enqueue millions of runs).
    public static let maximumCells = 100_000
}

/// A rejected sweep, naming the field (dotted path, `grid.<axis>` or `cell N: <field>`).
public struct SweepError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public var description: String { "\(field): \(reason)" }
}

/// Expands sweep specs into runs: every cell is validated first (all or nothing), dense parents
/// are added for the cells that need them, duplicates collapse by key.
public enum SweepExpansion {
    /// Parses a sweep document.
    public static func parse(_ data: Data) throws(SweepError) -> SweepSpec {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw SweepError(field: "body", reason: "malformed JSON")
        }
        guard let top = object as? [String: Any] else { throw SweepError(field: "body", reason: "a sweep is a JSON object") }
        if let unknown = top.keys.sorted().first(where: { !["name", "base", "grid", "max_attempts"].contains($0) }) {
            throw SweepError(field: unknown, reason: "unknown key (a sweep has name, base, grid and max_attempts)")
        }
        var maxAttempts = 3
        if let given = top["max_attempts"] {
            // JSONSerialization gives booleans as NSNumbers of objCType "c".
            guard let number = given as? NSNumber, String(cString: number.objCType) != "c", number.doubleValue == Double(number.intValue),
                  (1...20).contains(number.intValue) else {
                throw SweepError(field: "max_attempts", reason: "must be an integer from 1 to 20, got \(given)")
            }
            maxAttempts = number.intValue
        }
        // Lengths in Unicode code points, as JSON Schema's maxLength counts them.
        guard let name = top["name"] as? String, !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, name.unicodeScalars.count <= 200 else {
            throw SweepError(field: "name", reason: "a non-empty string of at most 200 characters is required")
        }
        let base = top["base"] ?? [String: Any]()
        guard let base = base as? [String: Any] else { throw SweepError(field: "base", reason: "must be an object of run config fields") }
        guard let grid = top["grid"] as? [String: Any] else { throw SweepError(field: "grid", reason: "must be an object of field: [values]") }
        guard !grid.isEmpty else { throw SweepError(field: "grid", reason: "is empty: give at least one field with values") }
        var axes: [(String, [any Sendable])] = []
        var cells = 1
        for field in grid.keys.sorted() {
            guard let values = grid[field] as? [Any] else { throw SweepError(field: "grid.\(field)", reason: "must be a list of values") }
            guard !values.isEmpty else { throw SweepError(field: "grid.\(field)", reason: "is an empty list") }
            guard !field.isEmpty, !field.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
                throw SweepError(field: "grid.\(field)", reason: "is not a field path")
            }
            cells *= values.count
            guard cells <= SweepSpec.maximumCells else {
                throw SweepError(field: "grid", reason: "more than \(SweepSpec.maximumCells) cells")
            }
            axes.append((field, values.map(sendable)))
        }
        // A field the grid sets replaces base's in every cell, so base's value would never be
        // validated nor used: refused, as is a grid field inside a base value that is no object.
        for (field, _) in axes {
            let path = field.split(separator: ".").map(String.init)
            var node: Any = base
            for (depth, key) in path.enumerated() {
                guard let object = node as? [String: Any] else {
                    throw SweepError(field: "grid.\(field)", reason: "base.\(path[..<depth].joined(separator: ".")) is not an object, "
                                     + "yet the grid sets a field inside it")
                }
                guard let next = object[key], !(next is NSNull) else { break }
                if depth == path.count - 1 {
                    throw SweepError(field: "grid.\(field)", reason: "also given in base; give each field in one place")
                }
                node = next
            }
        }
        guard let sendableBase = sendable(base) as? [String: any Sendable] else {
            throw SweepError(field: "base", reason: "must be an object of run config fields")
        }
        return SweepSpec(name: name, base: sendableBase, axes: axes,
                         document: String(decoding: data, as: UTF8.self), maxAttempts: maxAttempts)
    }

    /// The runs of a sweep, parents first, each once. Throws on the first invalid cell, naming it.
    public static func runs(of spec: SweepSpec) throws(SweepError) -> [NewRun] {
        var runs: [NewRun] = []
        var seen = Set<String>()
        let counts = spec.axes.map(\.values.count)
        let total = counts.reduce(1, *)
        for cell in 0..<total {
            var config = spec.base as [String: Any]
            var remainder = cell
            var described: [String] = []
            for (axis, count) in zip(spec.axes, counts).reversed() {
                let value = axis.values[remainder % count]
                remainder /= count
                set(value, at: axis.field.split(separator: ".").map(String.init), in: &config)
                described.insert("\(axis.field)=\(value)", at: 0)
            }
            let parsed: RunConfig
            do {
                parsed = try RunConfig.parse(try JSONSerialization.data(withJSONObject: config))
            } catch let error as ExperimentsError {
                throw SweepError(field: field(of: error), reason: "cell \(cell) (\(described.joined(separator: ", "))): \(error)")
            } catch {
                throw SweepError(field: "grid", reason: "cell \(cell): \(error)")
            }
            if let parent = parsed.parent(), seen.insert(parent.key).inserted {
                runs.append(newRun(parent, parents: [], maxAttempts: spec.maxAttempts))
            }
            if seen.insert(parsed.key).inserted {
                runs.append(newRun(parsed, parents: parsed.parent().map { [$0.key] } ?? [], maxAttempts: spec.maxAttempts))
            }
        }
        return runs
    }

    /// The store's view of a run config.
    public static func newRun(_ config: RunConfig, parents: [String], maxAttempts: Int = 3) -> NewRun {
        NewRun(key: config.key, config: String(decoding: config.canonicalJSON, as: UTF8.self), architecture: config.architecture,
               dataset: config.dataset, pruner: config.pruner, mode: config.mode, compression: config.compression,
               seed: Int64(bitPattern: config.seed), shuffle: config.shuffle, parents: parents, maxAttempts: maxAttempts)
    }

    /// The dotted field an `ExperimentsError` names.
    static func field(of error: ExperimentsError) -> String {
        switch error {
        case let .unknownKey(key): key
        case let .invalidField(field, _): field
        default: "base"
        }
    }

    private static func set(_ value: Any, at path: [String], in object: inout [String: Any]) {
        guard let first = path.first else { return }
        if path.count == 1 {
            object[first] = value
            return
        }
        var nested = object[first] as? [String: Any] ?? [:]
        set(value, at: Array(path.dropFirst()), in: &nested)
        object[first] = nested
    }

    /// JSON values from JSONSerialization are Sendable in practice (strings, numbers, arrays,
    /// dictionaries, NSNull); this states it for the type checker.
    private static func sendable(_ value: Any) -> any Sendable {
        switch value {
        case let dictionary as [String: Any]: return dictionary.mapValues(sendable) as [String: any Sendable]
        case let array as [Any]: return array.map(sendable) as [any Sendable]
        case let string as String: return string
        case let number as NSNumber: return number
        default: return NSNull()
        }
    }
}
