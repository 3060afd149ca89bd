import Testing
@testable import KubeSeedCore

/// Pure planning: one daemon-reload (it reruns every systemd generator: seconds on a small VM) when
/// unit files change, before any start or restart, and none on an unchanged pass.
@Suite struct ReloadPlanningTests {
    let units = [ComponentPlanner.ManagedUnit("kubelet.service", binary: "kubelet", installHint: "node archive")]
    let unitFile = RenderedFile("/etc/systemd/system/kubelet.service", "[Unit]\n", restarts: ["kubelet.service"])

    @Test func aNewUnitIsWrittenEnabledReloadedOnceThenStarted() throws {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = .notFound
        observed.binaries = ["kubelet"]
        let steps = ComponentPlanner.plan([unitFile], observed, units: units).steps
        #expect(steps == [.writeFile(path: unitFile.path, content: unitFile.content, mode: unitFile.mode), .enableUnit("kubelet.service"),
                          .reloadSystemd, .startUnit("kubelet.service")])
    }

    @Test func aChangedFileOfARunningUnitIsReloadedOnceBeforeTheRestart() throws {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled")
        observed.files[unitFile.path] = ("[Unit]\nDescription=old\n", 0o644, 1)
        observed.binaries = ["kubelet"]
        let steps = ComponentPlanner.plan([unitFile], observed, units: units).steps
        #expect(steps.filter { $0 == .reloadSystemd }.count == 1)
        let reload = try #require(steps.firstIndex(of: .reloadSystemd))
        let restart = try #require(steps.firstIndex(of: .restartUnit("kubelet.service")))
        #expect(reload < restart)
    }

    @Test func anUnchangedPassHasNoReload() {
        var observed = ComponentObservation()
        observed.units["kubelet.service"] = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled",
                                                      activeEnterMicroseconds: 2)
        observed.files[unitFile.path] = (unitFile.content, unitFile.mode, 1)
        observed.binaries = ["kubelet"]
        #expect(ComponentPlanner.plan([unitFile], observed, units: units).steps.isEmpty)
    }
}

/// What a list of steps leaves owed for a later one (pure).
@Suite struct PendingActivationTests {
    @Test func deferringSplitsOffTheReloadAndEveryJob() {
        let steps: [Step] = [.writeFile(path: "/etc/systemd/system/etcd.service", content: "", mode: 0o644), .enableUnit("etcd.service"),
                             .reloadSystemd, .restartUnit("etcd.service"), .startUnit("kube-apiserver.service")]
        let (now, owed) = PendingActivation.deferring(steps)
        #expect(now == Array(steps.prefix(2)))
        #expect(owed == PendingActivation(reload: true, jobs: [.restartUnit("etcd.service"), .startUnit("kube-apiserver.service")]))
        #expect(PendingActivation.deferring(Array(steps.prefix(2))).owed.isEmpty)
    }

    @Test func addingKeepsOneReloadAndEachJobOnce() {
        let a = PendingActivation(reload: false, jobs: [.startUnit("etcd.service")])
        let b = PendingActivation(reload: true, jobs: [.startUnit("etcd.service"), .startUnit("kube-apiserver.service")])
        #expect(a.adding(b) == PendingActivation(reload: true, jobs: [.startUnit("etcd.service"), .startUnit("kube-apiserver.service")]))
        #expect(PendingActivation().adding(PendingActivation()).isEmpty)
    }

    // The reload moved ahead (`Step.reloadAhead`): it follows the last step it must see, and what it need not
    // see is made while systemd reloads.
    let config = Step.writeFile(path: "/etc/kubernetes/kubelet-config.yaml", content: "x\n", mode: 0o644)
    let unit = Step.writeFile(path: "/etc/systemd/system/kubelet.service", content: "[Unit]\n", mode: 0o644)
    let dropIn = Step.writeFile(path: "/etc/systemd/system/containerd.service.d/kubeseed.conf", content: "[Service]\n", mode: 0o644)
    let link = Step.link(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge")

    @Test func theReloadFollowsTheLastStepItMustSeeAndTheRestFollowIt() {
        let steps: [Step] = [config, unit, .createDirectory(path: "/opt/cni/bin", mode: 0o755), link, dropIn,
                             .setSysctl(key: "vm.swappiness", value: "0"), .enableUnit("kubelet.service"), .reloadSystemd,
                             .restartUnit("containerd.service"), .startUnit("kubelet.service")]
        #expect(Step.reloadAhead(steps) == [unit, dropIn, .enableUnit("kubelet.service"), .reloadSystemd,
                                            config, .createDirectory(path: "/opt/cni/bin", mode: 0o755), link,
                                            .setSysctl(key: "vm.swappiness", value: "0"),
                                            .restartUnit("containerd.service"), .startUnit("kubelet.service")])
    }

    @Test func nothingMovesPastAStartOrAnotherReloadOrIntoAListWithoutOne() {
        let steps: [Step] = [config, .startUnit("a.service"), link, unit, .reloadSystemd, config, .reloadSystemd, link]
        #expect(Step.reloadAhead(steps) == [config, .startUnit("a.service"), unit, .reloadSystemd, link, .reloadSystemd, config, link])
        let none: [Step] = [config, unit, .maskUnits(["swap.target"]), link, .loadModule("br_netfilter"), .swapOff("/swapfile")]
        #expect(Step.reloadAhead(none) == none)
    }

    @Test(arguments: ["/etc/systemd/system/x.service", "/etc/systemd/system/x.service.d/y.conf", "/run/systemd/system/x.service",
                      "/lib/systemd/system/x.service", "/usr/lib/systemd/system/x.service", "/usr/local/lib/systemd/system/x.service",
                      "/etc/systemd", "/etc/systemd/system.conf"])
    func noUnitFileOrSystemdSettingIsMadeBesideTheReload(_ path: String) {
        #expect(!Step.writeFile(path: path, content: "", mode: nil).runsBesideReload)
        #expect(!Step.removeFile(path: path).runsBesideReload)
        #expect(!Step.link(path: path, target: "/dev/null").runsBesideReload)
        #expect(!Step.createDirectory(path: path, mode: 0o755).runsBesideReload)
    }

    @Test func onlyFilesDirectoriesLinksAndSysctlsAreMadeBesideIt() {
        #expect(Step.writeFile(path: "/etc/systemd-not/x", content: "", mode: nil).runsBesideReload)
        #expect(config.runsBesideReload && link.runsBesideReload && Step.setSysctl(key: "a.b", value: "1").runsBesideReload)
        for step: Step in [.loadModule("ip_vs"), .swapOff("/swapfile"), .maskUnits(["swap.target"]), .setSELinuxEnforce("0"),
                           .setTimezone("UTC"), .setLocalRTC(false), .enableUnit("a"), .disableUnit("a"), .startUnit("a"),
                           .stopUnit("a"), .restartUnit("a"), .reloadSystemd] {
            #expect(!step.runsBesideReload, "\(step)")
        }
    }
}
