print("prunelab")
