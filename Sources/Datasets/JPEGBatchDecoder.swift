import Dispatch

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Decodes many same-sized JPEG files into consecutive CHW float samples (`pixel / 255`) on one
/// `JPEGSession` thread a core, each working through a contiguous range of the files.
enum JPEGBatchDecoder {
    /// The samples of `paths`, in order, each `[3, height, width]`; another size is an error naming the file.
    ///
    /// When several files are bad, the error is that of the first one in `paths` order, whatever the
    /// threads' timing: a worker skips a file only when an earlier one has already failed.
    static func decode(_ paths: [String], width: Int, height: Int, workers: Int? = nil) throws(DatasetError) -> [Float] {
        let sampleSize = 3 * width * height
        guard !paths.isEmpty else { return [] }
        let workerCount = max(1, min(workers ?? processorCount(), paths.count))
        let state = State(starts: (0..<workerCount).map { chunk($0, of: workerCount, count: paths.count).lowerBound })
        var startFailure: String?
        let images = [Float](unsafeUninitializedCapacity: paths.count * sampleSize) { buffer, initialized in
            let output = SendablePointer(base: buffer.baseAddress!)
            let outcome = JPEGSession.run(workers: workerCount) { worker, session in
                let decompressor = JPEGDecompressor(session: session)
                let range = chunk(worker, of: workerCount, count: paths.count)
                for index in range {
                    guard state.shouldDecode(index, worker: worker) else { break }
                    do throws(DatasetError) {
                        let bytes = try FileBytes.readRaw(paths[index])
                        try bytes.withUnsafeBufferPointer { buffer throws(DatasetError) in
                            try decompressor.decode(buffer, path: paths[index], expected: (width, height))
                        }
                        decompressor.writePlanes(to: output.base + index * sampleSize)
                    } catch {
                        state.fail(index, error)
                        break
                    }
                }
            }
            switch outcome {
            case .success(let fatal):
                for (worker, message) in fatal.enumerated() {
                    guard let message else { continue }
                    let index = state.current[worker]
                    state.fail(index, .corruptFile(path: paths[index], reason: "libjpeg: \(message)"))
                }
            case .failure(let failure):
                startFailure = failure.reason
            }
            // Float needs no deinitialisation, so a failed decode may leave the buffer partly written.
            initialized = state.firstFailure == nil && startFailure == nil ? paths.count * sampleSize : 0
        }
        if let startFailure { throw .unreadableFile(path: paths[0], reason: "cannot start a libjpeg thread: \(startFailure)") }
        if let failure = state.firstFailure { throw failure.error }
        return images
    }

    /// The files worker `worker` of `workers` decodes: a contiguous share of `0..<count`.
    static func chunk(_ worker: Int, of workers: Int, count: Int) -> Range<Int> {
        (worker * count / workers)..<((worker + 1) * count / workers)
    }

    /// Online processors (at least 1).
    static func processorCount() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The workers' shared bookkeeping; `lock` guards `firstFailure`, and each worker writes only its own `current` slot.
    private final class State: @unchecked Sendable {
        private(set) var firstFailure: (index: Int, error: DatasetError)?
        /// The file each worker is decoding (read after the workers are done, to blame a fatal libjpeg error).
        var current: [Int]
        private let lock = DispatchSemaphore(value: 1)

        init(starts: [Int]) { current = starts }

        /// Whether `worker` should go on with file `index` (no earlier file failed); records it as current.
        func shouldDecode(_ index: Int, worker: Int) -> Bool {
            lock.wait()
            defer { lock.signal() }
            if let firstFailure, firstFailure.index < index { return false }
            current[worker] = index
            return true
        }

        func fail(_ index: Int, _ error: DatasetError) {
            lock.wait()
            defer { lock.signal() }
            if firstFailure == nil || index < firstFailure!.index { firstFailure = (index, error) }
        }
    }

    /// The output buffer, shared by workers that write disjoint samples of it.
    private struct SendablePointer: @unchecked Sendable {
        let base: UnsafeMutablePointer<Float>
    }
}
