import Foundation
import Testing

/// Debian's `dataset-fashion-mnist`, which the real-data tests train on. Where it is absent those
/// tests are disabled with this reason, so they show as skipped rather than passing.
enum InstalledFashionMNIST {
    static let directory = "/usr/share/datasets/fashion-mnist"
    static var isInstalled: Bool { FileManager.default.fileExists(atPath: directory) }
    static let absent: Comment = "needs Fashion-MNIST at /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)"
}
