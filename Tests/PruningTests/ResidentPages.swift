#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Resident pages of a tensor's storage (mincore): 0 when no one has written or read it since it was mapped.
func residentPages(_ tensor: Tensor) -> Int {
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let bytes = tensor.storage.capacity * MemoryLayout<Float>.stride
    let pages = (bytes + pageSize - 1) / pageSize
    var vector = [UInt8](repeating: 0, count: pages)
    let status = mincore(UnsafeMutableRawPointer(tensor.storage.host), bytes, &vector)
    precondition(status == 0, "mincore failed")
    return vector.reduce(0) { $0 + Int($1 & 1) }
}
