import Foundation

/// How prunelab writes and reads its own JSON — result.json, metrics.jsonl, checkpoint headers,
/// results sent to the server, CLI output: snake_case keys, sorted, and non-finite numbers as the
/// strings "inf", "-inf" and "nan" (an effective compression is infinite when nothing is
/// effective, a loss may be NaN; JSON has no number for either).
public enum JSONCoding {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// `convertingKeys: false` for types whose coding keys are spelled in snake_case already
    /// (`RunResult`, `RunFigures`): converting would look them up by their camelCase names.
    public static func decoder(convertingKeys: Bool = true) -> JSONDecoder {
        let decoder = JSONDecoder()
        if convertingKeys { decoder.keyDecodingStrategy = .convertFromSnakeCase }
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
