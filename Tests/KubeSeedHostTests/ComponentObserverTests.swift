import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The observer on a temporary root: when a binary was put in place is its inode's change time, so a file
/// unpacked with an old modification time (tar, dpkg, cp -p) still counts as new.
@Suite struct ComponentObserverTests {
    @Test func aBinaryUnpackedWithAnOldModificationTimeCountsAsPutInPlaceNow() throws {
        let host = try TemporaryHost()
        let path = "\(NodePaths.binDir)/kubelet"
        try TemporaryHost.write(host.root, path, "#!/bin/sh\n")
        #expect(chmod(host.root.resolve(path), 0o755) == 0)
        var times = [timeval(tv_sec: 1_000_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000_000, tv_usec: 0)]
        #expect(utimes(host.root.resolve(path), &times) == 0)
        let before = UInt64(Date().timeIntervalSince1970 * 1_000_000) - 5_000_000
        let unit = ComponentPlanner.ManagedUnit("kubelet.service", binary: "kubelet", installHint: "node archive")
        let observed = try ComponentObserver(root: host.root, services: host.services).observe([], units: [unit])
        #expect(observed.binaries == ["kubelet"])
        let changed = try #require(observed.binaryChangedMicroseconds["kubelet"])
        #expect(changed >= before, "\(changed) is the modification time, not the change time")
        // A kubelet started a minute ago runs the file put in place since: it restarts.
        let state = UnitState(loadState: "loaded", activeState: "active", subState: "running", unitFileState: "enabled", activeEnterMicroseconds: before - 60_000_000)
        #expect(ComponentPlanner.runsOlderBinary(unit, state, observed))
    }
}

/// For real, on this test process: its executable's clean pages leave the resident set and the process
/// runs on (they fault back in from the page cache).
@Suite struct IdlePagesTests {
    @Test func theExecutablesCleanPagesLeaveTheResidentSetAndComeBackOnUse() throws {
        let released = IdlePages.releaseExecutablePages()
        #expect(released > 0, "nothing of the test executable was resident and clean")
        #expect(SMaps.cleanReadOnlyMappings("", file: "/x").isEmpty)
        #expect(IdlePages.releaseExecutablePages(smaps: "/nonexistent/smaps") == 0)
    }
}
