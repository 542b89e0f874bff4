import FileSupport
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// A write that found no space: SQLite's SQLITE_FULL (its transaction rolled back, nothing of it
/// stored) or ENOSPC/EDQUOT from the artifact store (its folders, or an upload's `AtomicFile`). The
/// same request can succeed once space is freed, so the API answers it with 507 rather than a 500.
public struct DiskFull: Error, CustomStringConvertible {
    /// "database" or "artifacts": which store ran out of space.
    public let store: String
    public let reason: String

    public var description: String { "the server's disk is full (\(store): \(reason)); nothing was written, try again later" }

    /// The disk-full failure `error` is or wraps, if it is one.
    public static func of(_ error: any Error) -> DiskFull? {
        switch error {
        case let error as DiskFull: return error
        case let error as DatabaseError where error.resultCode == .SQLITE_FULL:
            return DiskFull(store: "database", reason: error.message ?? "database or disk is full")
        case let ArtifactError.io(path, operation, code) where code == ENOSPC || code == EDQUOT:
            return DiskFull(store: "artifacts", reason: "\(operation) \(path): \(String(cString: strerror(code)))")
        case let error as FileWriteError where error.isDiskFull:
            return DiskFull(store: "artifacts", reason: "\(error)")
        case let error as POSIXError where error.code == .ENOSPC || error.code == .EDQUOT:
            return DiskFull(store: "artifacts", reason: String(cString: strerror(error.code.rawValue)))
        default:
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            if let underlying, underlying.domain == NSPOSIXErrorDomain, underlying.code == Int(ENOSPC) || underlying.code == Int(EDQUOT) {
                return DiskFull(store: "artifacts", reason: String(cString: strerror(Int32(underlying.code))))
            }
            return nil
        }
    }
}
