import CMnl
import Glibc

/// Moves rtnetlink datagrams to and from the kernel and nothing more: requests are built and replies
/// parsed above it, so tests can replay captured or hand-built reply bytes without a kernel.
protocol NetlinkTransport: AnyObject {
    /// The port ID the kernel addresses replies to; 0 accepts replies to any port (libmnl's rule).
    var portID: UInt32 { get }
    /// Sends one request datagram.
    func send(_ request: [UInt8]) throws
    /// Receives the next reply datagram (one or more netlink messages).
    func receive() throws -> [UInt8]
}

/// A `NETLINK_ROUTE` socket opened and bound through libmnl, closed when released.
final class LibmnlTransport: NetlinkTransport {
    private let socket: OpaquePointer
    let portID: UInt32
    /// One datagram of a dump (the kernel fills up to 32 KiB per read when the buffer allows it).
    private var buffer = [UInt8](repeating: 0, count: 32768)

    init() throws {
        var opened: OpaquePointer?
        try systemCall(.netlink, "open a netlink socket") {
            opened = mnl_socket_open(NETLINK_ROUTE)
            return opened == nil ? -1 : 0
        }
        let socket = opened!
        do {
            try systemCall(.netlink, "bind the netlink socket") { mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) }
        } catch {
            mnl_socket_close(socket)
            throw error
        }
        self.socket = socket
        portID = mnl_socket_get_portid(socket)
    }

    deinit { mnl_socket_close(socket) }

    func send(_ request: [UInt8]) throws {
        try request.withUnsafeBytes { raw in
            _ = try systemCall(.netlink, "send a netlink request") { mnl_socket_sendto(socket, raw.baseAddress, raw.count) }
        }
    }

    func receive() throws -> [UInt8] {
        let received = try buffer.withUnsafeMutableBytes { raw in
            try systemCall(.netlink, "read a netlink reply") { mnl_socket_recvfrom(socket, raw.baseAddress, raw.count) }
        }
        return Array(buffer[0..<received])
    }
}
