import Logging
import Testing
@testable import Service

@Suite struct WorkerSupervisorTests {
    let logger = Logger(label: "test")

    @Test func autoStartsOneWorkerPerGPUEachSeeingOnlyItsOwn() throws {
        let supervisor = try WorkerSupervisor(workers: "auto", executable: "/bin/false", token: "t", logger: logger,
                                              countGPUs: { (3, "test") }, environment: [:])
        #expect(supervisor.slots.map(\.device) == ["gpu:0", "gpu:0", "gpu:0"], "CUDA numbers the one visible GPU 0")
        #expect(supervisor.slots.map { $0.environment["CUDA_VISIBLE_DEVICES"] } == ["0", "1", "2"])
    }

    @Test func anInheritedSubsetOfGPUsIsHandedOutNotRenumbered() throws {
        // Under Slurm this process may see GPUs 5 and 7 only; its workers must get 5 and 7, not 0 and 1.
        let supervisor = try WorkerSupervisor(workers: "auto", executable: "/bin/false", token: "t", logger: logger,
                                              countGPUs: { (2, "test") }, environment: ["CUDA_VISIBLE_DEVICES": "5, 7"])
        #expect(supervisor.slots.map { $0.environment["CUDA_VISIBLE_DEVICES"] } == ["5", "7"])
    }

    @Test func withoutGPUsAutoIsOneCPUWorkerAndCountsAreCPUWorkers() throws {
        let none = try WorkerSupervisor(workers: "auto", executable: "/bin/false", token: "t", logger: logger, countGPUs: { (0, "none") })
        #expect(none.slots == [WorkerSupervisor.Slot(device: "cpu", environment: [:])])
        let three = try WorkerSupervisor(workers: "3", executable: "/bin/false", token: "t", logger: logger, countGPUs: { (8, "ignored") })
        #expect(three.slots.map(\.device) == ["cpu", "cpu", "cpu"])
    }
}
