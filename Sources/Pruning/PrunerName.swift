/// The pruner names used in specs, the API, the database and the CLI (docs/science.md).
public enum PrunerName {
    public static let allNames: [String] = [
        "dense",
        "random/uniform", "random/uniform+", "random/erk", "random/igq", "random/snip", "random/synflow",
        "magnitude/global", "magnitude/uniform", "magnitude/uniform+", "magnitude/erk", "magnitude/igq",
        "snip", "snip/iterative", "grasp", "synflow", "lamp",
    ]
}
