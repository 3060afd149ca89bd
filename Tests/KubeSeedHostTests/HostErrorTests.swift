import CSystemd
import Glibc
import Testing
@testable import KubeSeedHost

/// `HostError.isRetryable`, the D-Bus error name, and the system call helpers (no host is touched).
@Suite struct HostErrorTests {
    @Test(arguments: [HostError.Code.systemJob, .dbus, .busy])
    func transientCodesAreRetryable(code: HostError.Code) {
        #expect(HostError(code, "start kubelet.service").isRetryable)
    }

    @Test(arguments: [EAGAIN, EBUSY, EINTR])
    func transientErrnoIsRetryable(value: Int32) {
        #expect(HostError.errno(.file, "write /etc/fstab", value).isRetryable)
        #expect(HostError.errno(.swap, "swapoff /swapfile", value).isRetryable)
    }

    @Test func problemsSomeoneMustFixAreNotRetryable() {
        #expect(!HostError.errno(.file, "open /etc/kubernetes/kubelet.conf", ENOENT).isRetryable)
        #expect(!HostError.errno(.file, "write /etc/fstab", EACCES).isRetryable)
        #expect(!HostError(.file, "/opt/bin does not exist", cause: "run 'seed-agent apply' first").isRetryable)
        #expect(!HostError(.kmod, "load module br_netfilter", cause: "not found in the module index of this kernel").isRetryable)
        #expect(!HostError(.journal, "the change journal is damaged").isRetryable)
    }

    @Test func busErrorKeepsItsNameApartFromTheText() {
        var busError = sd_bus_error()
        defer { sd_bus_error_free(&busError) }
        _ = sd_bus_error_set(&busError, "org.freedesktop.systemd1.NoSuchUnit", "Unit kubelet.service not loaded.")
        let error = SystemBus.error("org.freedesktop.systemd1.Manager.GetUnit", -ENOENT, busError)
        #expect(error.code == .dbus)
        #expect(error.dbusErrorName == "org.freedesktop.systemd1.NoSuchUnit")
        #expect(error.cause == "org.freedesktop.systemd1.NoSuchUnit: Unit kubelet.service not loaded.")
    }

    @Test func busErrorWithoutANameKeepsTheErrno() {
        let error = SystemBus.error("connect", -ECONNREFUSED, sd_bus_error())
        #expect(error.dbusErrorName == nil)
        #expect(error.errnoValue == ECONNREFUSED)
    }

    @Test func systemCallKeepsAWideResultWhole() throws {
        let large = Int(Int32.max) + 1
        #expect(try systemCall(.file, "read") { large } == large)
    }

    @Test func systemCallRetriesInterruptedCallsUnlessToldNot() throws {
        var attempts = 0
        let interruptedOnce = {
            attempts += 1
            if attempts == 1 { Glibc.errno = EINTR; return -1 }
            return 5
        }
        #expect(try systemCall(.file, "read", interruptedOnce) == 5)
        #expect(attempts == 2)

        attempts = 0
        let error = try #require(throws: HostError.self) {
            try systemCall(.netlink, "read a netlink dump", retryingInterrupted: false, interruptedOnce)
        }
        #expect(error.errnoValue == EINTR)
        #expect(attempts == 1)
    }

    @Test func negativeErrnoCallReportsTheErrno() throws {
        let error = try #require(throws: HostError.self) { try negativeErrnoCall(.kmod, "unload module overlay") { -EBUSY } }
        #expect(error.code == .kmod)
        #expect(error.errnoValue == EBUSY)
        #expect(error.isRetryable)
    }
}
