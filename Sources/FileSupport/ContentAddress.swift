/// Files named by their contents: the artifact store's blobs and uploaded models.
public enum ContentAddress {
    /// Whether `text` is a lowercase hexadecimal SHA-256 (the only names the artifact store hands
    /// out or accepts, and an uploaded model's name in run configs).
    public static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
