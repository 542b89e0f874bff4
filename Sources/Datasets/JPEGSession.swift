import CJPEG
import Dispatch

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// libjpeg's error handling without setjmp: libjpeg only ever runs on a session's own thread, and
/// a fatal error parks that thread for good instead of returning into libjpeg or exiting.
///
/// libjpeg's contract is that `error_exit` never returns (the decoder's state is undefined after a
/// fatal error) and its default handler calls `exit()`. C callers `longjmp` out; Swift cannot, and
/// no C shim is available. A blocked thread keeps the contract: nothing runs on that stack again,
/// the handler signals the waiting caller first, and the caller turns the message into a
/// `DatasetError`. The price is one blocked thread and its decoder's memory per fatal error;
/// `JPEGStructure` rejects malformed headers before libjpeg sees them, so only files that pass it
/// and still break libjpeg (bogus Huffman tables, bad progression parameters) pay it, and readers
/// stop at their first bad file. Corrupt or truncated entropy data is only a libjpeg *warning*,
/// collected here and reported by `JPEGDecompressor` as a corrupt file.
final class JPEGSession: @unchecked Sendable {
    /// The error manager every libjpeg object of this session points at (stable address, never freed
    /// while the thread may still be parked inside libjpeg).
    let errorManager: UnsafeMutablePointer<jpeg_error_mgr>
    /// The first warning since `clearWarnings()`.
    private(set) var firstWarning: String?
    /// libjpeg's fatal message, once `error_exit` ran.
    private(set) var fatalMessage: String?
    private let finished = DispatchSemaphore(value: 0)
    private let body: @Sendable (JPEGSession) -> Void

    private init(body: @escaping @Sendable (JPEGSession) -> Void) {
        self.body = body
        errorManager = .allocate(capacity: 1)
        errorManager.initialize(to: jpeg_error_mgr())
        jpeg_std_error(errorManager)
        errorManager.pointee.error_exit = { common in
            // Must not return: libjpeg's state after a fatal error is undefined.
            if let common, let session = JPEGSession.owner(of: common) {
                session.fatalMessage = JPEGSession.message(common)
                session.finished.signal()
            }
            while true { pause() }
        }
        errorManager.pointee.emit_message = { common, level in
            // Negative levels are warnings (corrupt data, premature end); others are trace output.
            guard let common, level < 0 else { return }
            common.pointee.err.pointee.num_warnings += 1
            if let session = JPEGSession.owner(of: common), session.firstWarning == nil {
                session.firstWarning = JPEGSession.message(common)
            }
        }
        errorManager.pointee.output_message = { _ in }   // never print to stderr
    }

    // Runs only once no thread can be inside libjpeg with this session: a parked thread keeps its own reference.
    deinit { errorManager.deallocate() }

    /// The value libjpeg objects of this session carry as `client_data`.
    var clientData: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Forgets earlier warnings, before the next image.
    func clearWarnings() {
        firstWarning = nil
        errorManager.pointee.num_warnings = 0
    }

    /// Runs `body(worker, session)` for `worker in 0..<count`, each on its own new thread with its own
    /// session, and waits for all; returns each worker's fatal libjpeg message (nil when it finished).
    ///
    /// `body` must do all its libjpeg work with `session`'s error manager and `clientData`.
    static func run(workers count: Int, _ body: @escaping @Sendable (_ worker: Int, JPEGSession) -> Void) -> Result<[String?], ThreadStartFailure> {
        precondition(count > 0, "need at least one worker")
        var sessions: [JPEGSession] = []
        for worker in 0..<count {
            let session = JPEGSession { session in body(worker, session) }
            guard session.start() else {
                for started in sessions { started.finished.wait() }
                return .failure(ThreadStartFailure(reason: FileBytes.errnoText()))
            }
            sessions.append(session)
        }
        for session in sessions { session.finished.wait() }
        return .success(sessions.map(\.fatalMessage))
    }

    /// Why a worker thread could not be created.
    struct ThreadStartFailure: Error {
        let reason: String
    }

    /// Starts a detached thread (a parked one is never joined) that runs `body` and signals `finished`.
    private func start() -> Bool {
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { raw in
            JPEGSession.threadMain(raw)
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<JPEGSession>.fromOpaque(context).release()
            errno = status
            return false
        }
        #if canImport(Glibc)
        pthread_detach(thread)
        #else
        pthread_detach(thread!)
        #endif
        return true
    }

    private static func threadMain(_ raw: UnsafeMutableRawPointer?) {
        // The thread's retain keeps the session alive even when it parks in error_exit.
        let session = Unmanaged<JPEGSession>.fromOpaque(raw!).takeRetainedValue()
        session.body(session)
        session.finished.signal()
    }

    private static func owner(of common: j_common_ptr) -> JPEGSession? {
        common.pointee.client_data.map { Unmanaged<JPEGSession>.fromOpaque($0).takeUnretainedValue() }
    }

    /// libjpeg's text for its last message.
    private static func message(_ common: j_common_ptr) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(JMSG_LENGTH_MAX)) { buffer in
            buffer.initialize(repeating: 0)
            common.pointee.err.pointee.format_message(common, buffer.baseAddress)
            return String(cString: buffer.baseAddress!)
        }
    }
}
