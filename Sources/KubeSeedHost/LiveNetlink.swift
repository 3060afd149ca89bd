import CMnl
import Glibc
import KubeSeedCore

/// Reads the routing table over rtnetlink with libmnl (what `ip route` reads), never by running `ip`.
public final class LiveNetwork: NetworkInspector {
    public init() {}

    public func defaultRoute() throws -> DefaultRoute? {
        let socket = try NetlinkSocket()
        let routes = try socket.dump(type: UInt16(RTM_GETROUTE), headerSize: MemoryLayout<rtmsg>.size)
        let links = try socket.dump(type: UInt16(RTM_GETLINK), headerSize: MemoryLayout<ifinfomsg>.size)
        let addresses = try socket.dump(type: UInt16(RTM_GETADDR), headerSize: MemoryLayout<ifaddrmsg>.size)
        return DefaultRoute.find(routes: routes, links: links, addresses: addresses)
    }
}

/// Collects the messages of one dump (filled by libmnl callbacks on this thread).
private final class DumpCollector {
    let headerSize: Int
    var messages: [NetlinkMessage] = []
    var attributes: [UInt16: [UInt8]] = [:]
    init(headerSize: Int) { self.headerSize = headerSize }
}

private final class NetlinkSocket {
    private let socket: OpaquePointer
    private var sequence = UInt32(truncatingIfNeeded: time(nil))

    init() throws {
        guard let socket = mnl_socket_open(NETLINK_ROUTE) else {
            throw HostError.errno(.netlink, "open a netlink socket", Glibc.errno)
        }
        self.socket = socket
        try systemCall(.netlink, "bind the netlink socket") { mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) }
    }

    deinit { mnl_socket_close(socket) }

    /// Sends an AF_INET dump request and returns every message of the reply.
    func dump(type: UInt16, headerSize: Int) throws -> [NetlinkMessage] {
        sequence &+= 1
        let seq = sequence
        var buffer = [UInt8](repeating: 0, count: 32768)
        let collector = DumpCollector(headerSize: headerSize)
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        try buffer.withUnsafeMutableBytes { raw in
            let header = mnl_nlmsg_put_header(raw.baseAddress)!
            header.pointee.nlmsg_type = type
            header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | NLM_F_DUMP)
            header.pointee.nlmsg_seq = seq
            let family = mnl_nlmsg_put_extra_header(header, headerSize)!
            family.storeBytes(of: UInt8(AF_INET), as: UInt8.self)
            let length = Int(header.pointee.nlmsg_len)
            try systemCall(.netlink, "send a netlink request") { Int32(truncatingIfNeeded: mnl_socket_sendto(socket, header, length)) }
        }
        let portID = mnl_socket_get_portid(socket)
        while true {
            let received = try buffer.withUnsafeMutableBytes { raw in
                try systemCall(.netlink, "read a netlink reply") {
                    Int32(truncatingIfNeeded: mnl_socket_recvfrom(socket, raw.baseAddress, raw.count))
                }
            }
            let result = buffer.withUnsafeBytes { raw in
                mnl_cb_run(raw.baseAddress, Int(received), seq, portID, { header, data in
                    guard let header, let data else { return MNL_CB_ERROR }
                    let collector = Unmanaged<DumpCollector>.fromOpaque(data).takeUnretainedValue()
                    let payload = mnl_nlmsg_get_payload(header)!
                    let familyHeader = Array(UnsafeRawBufferPointer(start: payload, count: collector.headerSize))
                    collector.attributes = [:]
                    _ = mnl_attr_parse(header, UInt32(collector.headerSize), { attribute, data in
                        guard let attribute, let data else { return MNL_CB_OK }
                        let collector = Unmanaged<DumpCollector>.fromOpaque(data).takeUnretainedValue()
                        let bytes = UnsafeRawBufferPointer(start: mnl_attr_get_payload(attribute),
                                                           count: Int(mnl_attr_get_payload_len(attribute)))
                        collector.attributes[mnl_attr_get_type(attribute)] = Array(bytes)
                        return MNL_CB_OK
                    }, data)
                    collector.messages.append(NetlinkMessage(header: familyHeader, attributes: collector.attributes))
                    return MNL_CB_OK
                }, unmanaged.toOpaque())
            }
            if result < 0 { throw HostError.errno(.netlink, "read a netlink dump", Glibc.errno) }
            if result <= MNL_CB_STOP { break }
        }
        return collector.messages
    }
}
