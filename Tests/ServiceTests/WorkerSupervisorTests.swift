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
        let none = try WorkerSupervisor(workers: "auto", executable: "/bin/false", token: "t", logger: logger, countGPUs: { (0, "none") },
                                        environment: [:], cores: 8)
        #expect(none.slots == [WorkerSupervisor.Slot(device: "cpu", environment: ["OMP_NUM_THREADS": "8"])])
        let three = try WorkerSupervisor(workers: "3", executable: "/bin/false", token: "t", logger: logger, countGPUs: { (8, "ignored") })
        #expect(three.slots.map(\.device) == ["cpu", "cpu", "cpu"])
    }

    @Test func workersShareTheCoresUnlessTheOperatorSetTheThreads() throws {
        // Teams that each take every core spin against one another: 3 workers on 8 cores get 2 threads each.
        let three = try WorkerSupervisor(workers: "3", executable: "/bin/false", token: "t", logger: logger, environment: [:], cores: 8)
        #expect(three.slots.map { $0.environment["OMP_NUM_THREADS"] } == ["2", "2", "2"])
        let gpus = try WorkerSupervisor(workers: "auto", executable: "/bin/false", token: "t", logger: logger,
                                        countGPUs: { (4, "test") }, environment: [:], cores: 32)
        #expect(gpus.slots.map { $0.environment["OMP_NUM_THREADS"] } == ["8", "8", "8", "8"])
        #expect(gpus.slots.map { $0.environment["CUDA_VISIBLE_DEVICES"] } == ["0", "1", "2", "3"])
        #expect(gpus.slots.first?.summary == "GPU 0 (8 CPU threads)")
        // More workers than cores: one thread each, never zero.
        let many = try WorkerSupervisor(workers: "5", executable: "/bin/false", token: "t", logger: logger, environment: [:], cores: 2)
        #expect(many.slots.map { $0.environment["OMP_NUM_THREADS"] } == Array(repeating: "1", count: 5))
        #expect(many.slots.first?.summary == "cpu (1 CPU thread)")
        // The operator's OMP_NUM_THREADS reaches the workers as it is (they inherit the environment).
        let chosen = try WorkerSupervisor(workers: "2", executable: "/bin/false", token: "t", logger: logger,
                                          environment: ["OMP_NUM_THREADS": "6"], cores: 2)
        #expect(chosen.slots.allSatisfy { $0.environment["OMP_NUM_THREADS"] == nil })
    }
}
