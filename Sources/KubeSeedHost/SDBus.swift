import CSystemd
import Glibc
import KubeSeedCore

/// A method argument for `SystemBus.call`.
enum BusArgument {
    case string(String)
    case bool(Bool)
    case stringArray([String])
}

private func typeCode(_ c: Character) -> CChar { CChar(bitPattern: c.asciiValue!) }

/// A thin owner of an sd-bus connection to the system bus. One thread at a time.
final class SystemBus {
    let bus: OpaquePointer
    /// How long a method call may take before sd-bus gives up (microseconds).
    static let callTimeout: UInt64 = 90_000_000

    /// True on a direct connection to PID 1 (no bus daemon: messages carry no sender name).
    let direct: Bool

    /// - Parameter effectiveUID: to talk to systemd itself, this process's effective UID: as root the
    ///   connection goes over systemd's private socket (as systemctl does), one hop instead of two
    ///   through the bus daemon for every call and job. `nil`: the bus daemon, for any other service.
    init(systemdWithEffectiveUID effectiveUID: uid_t? = nil, privateSocket: String = "/run/systemd/private") throws {
        if effectiveUID == 0, let bus = Self.connectDirect(privateSocket) {
            self.bus = bus
            direct = true
            return
        }
        var bus: OpaquePointer?
        try negativeErrnoCall(.dbus, "connect to the system bus") { sd_bus_open_system(&bus) }
        self.bus = bus!
        direct = false
    }

    /// A started connection to systemd's private socket whose peer is root, else nil (then the bus).
    private static func connectDirect(_ socketPath: String) -> OpaquePointer? {
        guard access(socketPath, F_OK) == 0 else { return nil }
        var bus: OpaquePointer?
        guard sd_bus_new(&bus) >= 0, let bus else { return nil }
        var creds: OpaquePointer?
        var peerUID: uid_t = 1
        if sd_bus_set_address(bus, "unix:path=\(socketPath)") >= 0, sd_bus_start(bus) >= 0,
           sd_bus_get_owner_creds(bus, UInt64(SD_BUS_CREDS_EUID), &creds) >= 0 {
            _ = sd_bus_creds_get_euid(creds, &peerUID)   // the socket's peer, from SO_PEERCRED
        }
        sd_bus_creds_unref(creds)
        guard peerUID == 0 else {
            sd_bus_flush_close_unref(bus)
            return nil
        }
        return bus
    }

    deinit { sd_bus_flush_close_unref(bus) }

    /// Calls a method and returns the reply (caller reads it).
    func call(_ destination: String, _ path: String, _ interface: String, _ member: String,
              _ arguments: [BusArgument] = []) throws -> BusMessage {
        var message: OpaquePointer?
        try negativeErrnoCall(.dbus, "prepare \(interface).\(member)") {
            sd_bus_message_new_method_call(bus, &message, destination, path, interface, member)
        }
        let request = BusMessage(message!)
        for argument in arguments { try request.append(argument) }
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        let result = sd_bus_call(bus, request.message, Self.callTimeout, &error, &reply)
        if result < 0 {
            throw Self.error("\(interface).\(member)", result, error)
        }
        return BusMessage(reply!)
    }

    func stringProperty(_ destination: String, _ path: String, _ interface: String, _ member: String) throws -> String {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var value: UnsafeMutablePointer<CChar>?
        let result = sd_bus_get_property_string(bus, destination, path, interface, member, &error, &value)
        if result < 0 { throw Self.error("read \(interface).\(member)", result, error) }
        defer { free(value) }
        return value.map { String(cString: $0) } ?? ""
    }

    func uint64Property(_ destination: String, _ path: String, _ interface: String, _ member: String) throws -> UInt64 {
        try trivialProperty(destination, path, interface, member, type: "t", initial: 0)
    }

    /// A fixed-size property (`b` as Int32, `t` as UInt64, …) read straight into `T`.
    private func trivialProperty<T: BitwiseCopyable>(_ destination: String, _ path: String, _ interface: String, _ member: String,
                                    type: Character, initial: T) throws -> T {
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var value = initial
        let result = sd_bus_get_property_trivial(bus, destination, path, interface, member, &error, typeCode(type), &value)
        if result < 0 { throw Self.error("read \(interface).\(member)", result, error) }
        return value
    }

    /// The error a failed call reports: the D-Bus error's name (kept in `dbusErrorName`) and message
    /// when the bus or the service replied with one, else sd-bus's negative errno.
    static func error(_ what: String, _ result: Int32, _ error: sd_bus_error) -> HostError {
        if let name = error.name {
            let name = String(cString: name)
            let text = error.message.map { String(cString: $0) } ?? ""
            return HostError(.dbus, what, cause: "\(name): \(text)", dbusErrorName: name)
        }
        return HostError.errno(.dbus, what, -result)
    }
}

/// An sd-bus message, unreferenced when released.
final class BusMessage {
    let message: OpaquePointer
    init(_ message: OpaquePointer) { self.message = message }
    deinit { sd_bus_message_unref(message) }

    func append(_ argument: BusArgument) throws {
        switch argument {
        case .string(let value):
            try negativeErrnoCall(.dbus, "append a string") {
                value.withCString { sd_bus_message_append_basic(message, typeCode("s"), $0) }
            }
        case .bool(let value):
            var flag: Int32 = value ? 1 : 0
            try negativeErrnoCall(.dbus, "append a boolean") { sd_bus_message_append_basic(message, typeCode("b"), &flag) }
        case .stringArray(let values):
            try negativeErrnoCall(.dbus, "open an array") { sd_bus_message_open_container(message, typeCode("a"), "s") }
            for value in values { try append(.string(value)) }
            try negativeErrnoCall(.dbus, "close an array") { sd_bus_message_close_container(message) }
        }
    }

    /// Reads a string-like value (`s`, `o`, `g`).
    func readString(_ type: Character = "s") throws -> String {
        var value: UnsafePointer<CChar>?
        try negativeErrnoCall(.dbus, "read a reply") { sd_bus_message_read_basic(message, typeCode(type), &value) }
        return value.map { String(cString: $0) } ?? ""
    }

    func readUInt32() throws -> UInt32 {
        var value: UInt32 = 0
        try negativeErrnoCall(.dbus, "read a reply") { sd_bus_message_read_basic(message, typeCode("u"), &value) }
        return value
    }

    /// Enters a container; returns false at the end of the enclosing array.
    func enter(_ type: Character, _ contents: String) throws -> Bool {
        try negativeErrnoCall(.dbus, "read a reply") { sd_bus_message_enter_container(message, typeCode(type), contents) } > 0
    }

    func exit() throws {
        try negativeErrnoCall(.dbus, "read a reply") { sd_bus_message_exit_container(message) }
    }

    func skip(_ types: String) throws {
        try negativeErrnoCall(.dbus, "read a reply") { sd_bus_message_skip(message, types) }
    }
}
