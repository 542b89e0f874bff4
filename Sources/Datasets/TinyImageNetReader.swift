/// Reader for Tiny ImageNet as distributed (`tiny-imagenet-200.zip`, unpacked).
///
/// Layout: `wnids.txt` lists the class ids (WordNet ids such as `n01443537`), one a line, the line
/// order giving the label; `train/<wnid>/images/*.JPEG` holds each class's training images;
/// `val/images/*.JPEG` with `val/val_annotations.txt` (file, wnid, bounding box, tab-separated) is
/// the labelled held-out split and serves as the test split (the official `test/` has no labels).
/// Every image must be 64x64 (grayscale files are replicated to three channels); samples are
/// `[3, 64, 64]` of `pixel / 255`, ordered by class, then by file name (UTF-8 byte order).
public enum TinyImageNetReader {
    /// The shape of one sample.
    public static let sampleShape = [3, 64, 64]
    /// Classes in the standard release; the reader takes however many `wnids.txt` lists.
    public static let standardClasses = 200
    /// The folder the release unpacks to, accepted below the given directory.
    public static let standardSubfolder = "tiny-imagenet-200"

    /// Reads the train split and the labelled validation split (as `test`) from `directory` or its `tiny-imagenet-200/` subfolder.
    public static func read(directory: String, name: String = "tinyimagenet") throws(DatasetError) -> DatasetSplits {
        let root = folder(directory)
        let classIDs = try classIDs(path: "\(root)/wnids.txt")
        // List and check both splits before decoding anything: layout errors should not wait for 100 000 decodes.
        let train = try trainFiles(root: root, classIDs: classIDs)
        let test = try validationFiles(root: root, classIDs: classIDs)
        return DatasetSplits(train: try decode(train, classes: classIDs.count, name: name),
                             test: try decode(test, classes: classIDs.count, name: name))
    }

    /// One image file and its label.
    struct Entry: Equatable {
        var path: String
        var label: Int32
    }

    /// `directory` when it holds `wnids.txt`, else its standard subfolder when that exists, else
    /// `directory` again so that the missing `wnids.txt` is reported there.
    static func folder(_ directory: String) -> String {
        if FileBytes.isFile("\(directory)/wnids.txt") { return directory }
        let nested = "\(directory)/\(standardSubfolder)"
        return FileBytes.isDirectory(nested) ? nested : directory
    }

    /// The class ids of `wnids.txt` in line order (blank lines and surrounding spaces ignored).
    static func classIDs(path: String) throws(DatasetError) -> [String] {
        var seen = Set<String>()
        var ids: [String] = []
        for (number, line) in try lines(path) {
            guard !line.isEmpty else { continue }
            guard !line.contains("/"), !line.contains("\t"), !line.contains(" "), line != ".", line != ".." else {
                throw .corruptFile(path: path, reason: "line \(number): '\(line)' is not a class id")
            }
            guard seen.insert(line).inserted else { throw .corruptFile(path: path, reason: "line \(number): class id \(line) is listed twice") }
            ids.append(line)
        }
        guard !ids.isEmpty else { throw .corruptFile(path: path, reason: "lists no class ids") }
        return ids
    }

    /// The JPEG files of every class folder `train/<wnid>/images`, by class then file name.
    static func trainFiles(root: String, classIDs: [String]) throws(DatasetError) -> [Entry] {
        let train = "\(root)/train"
        guard FileBytes.isDirectory(train) else { throw .missingDirectory(path: train) }
        var entries: [Entry] = []
        for (label, id) in classIDs.enumerated() {
            let images = "\(train)/\(id)/images"
            let files = try DirectoryListing.names(in: images).filter(isJPEGName)
            guard !files.isEmpty else { throw .corruptFile(path: images, reason: "class \(id) has no .JPEG images") }
            entries += files.map { Entry(path: "\(images)/\($0)", label: Int32(label)) }
        }
        return entries
    }

    /// The files listed in `val/val_annotations.txt`, in `val/images`, by class then file name.
    static func validationFiles(root: String, classIDs: [String]) throws(DatasetError) -> [Entry] {
        let annotations = "\(root)/val/val_annotations.txt"
        let images = "\(root)/val/images"
        let labelOf = Dictionary(uniqueKeysWithValues: classIDs.enumerated().map { ($1, Int32($0)) })
        var seen = Set<String>()
        var listed: [(file: String, label: Int32)] = []
        for (number, line) in try lines(annotations) {
            guard !line.isEmpty else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2 else {
                throw .corruptFile(path: annotations, reason: "line \(number) has \(fields.count) tab-separated field, expected file and class id")
            }
            let file = String(fields[0]), id = String(fields[1])
            guard isJPEGName(file), !file.contains("/") else {
                throw .corruptFile(path: annotations, reason: "line \(number): '\(file)' is not a JPEG file name")
            }
            guard let label = labelOf[id] else {
                throw .corruptFile(path: annotations, reason: "line \(number): class id \(id) is not in wnids.txt")
            }
            guard seen.insert(file).inserted else { throw .corruptFile(path: annotations, reason: "line \(number): \(file) is annotated twice") }
            listed.append((file, label))
        }
        guard !listed.isEmpty else { throw .corruptFile(path: annotations, reason: "annotates no images") }
        guard FileBytes.isDirectory(images) else { throw .missingDirectory(path: images) }
        listed.sort { $0.label != $1.label ? $0.label < $1.label : $0.file.utf8.lexicographicallyPrecedes($1.file.utf8) }
        var entries: [Entry] = []
        entries.reserveCapacity(listed.count)
        for (file, label) in listed {
            let path = "\(images)/\(file)"
            guard FileBytes.isFile(path) else { throw .missingFile(path: path) }
            entries.append(Entry(path: path, label: label))
        }
        return entries
    }

    /// `.JPEG`, `.jpeg` or `.jpg` in any case, not hidden (macOS leaves `._name.JPEG` companions in archives).
    static func isJPEGName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return !name.hasPrefix(".") && (lower.hasSuffix(".jpeg") || lower.hasSuffix(".jpg"))
    }

    /// The lines of the text file at `path`, numbered from 1, without line ends and surrounding spaces.
    private static func lines(_ path: String) throws(DatasetError) -> [(number: Int, text: String)] {
        let bytes = try FileBytes.readRaw(path)
        // isNewline also splits "\r\n", which Swift keeps as one Character.
        return String(decoding: bytes, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map { index, line in
            (index + 1, line.trimmingSpaces())
        }
    }

    private static func decode(_ entries: [Entry], classes: Int, name: String) throws(DatasetError) -> Dataset {
        let images = try JPEGBatchDecoder.decode(entries.map(\.path), width: sampleShape[2], height: sampleShape[1])
        return Dataset(name: name, sampleShape: sampleShape, classes: classes, images: images, labels: entries.map(\.label))
    }
}

private extension Substring {
    /// Without leading and trailing spaces, tabs and carriage returns.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
