import CMnl
import Glibc
import KubeSeedCore

/// Reads the routing table over rtnetlink with libmnl (what `ip route` reads), never by running `ip`.
public final class LiveNetwork: NetworkInspector {
    public init() {}

    public func defaultRoute() throws -> DefaultRoute? {
        try RouteTableReader(transport: LibmnlTransport()).defaultRoute()
    }
}

/// Dumps routes, links and addresses over a `NetlinkTransport` and picks the default route from them.
/// Replies are checked (sequence, port, `NLMSG_ERROR`) and split by libmnl's `mnl_cb_run`, whichever
/// transport delivered them.
final class RouteTableReader {
    private let transport: NetlinkTransport
    private var sequence: UInt32

    /// - Parameter sequence: the number before the first request's; each request takes the next.
    init(transport: NetlinkTransport, sequence: UInt32 = UInt32(truncatingIfNeeded: time(nil))) {
        self.transport = transport
        self.sequence = sequence
    }

    func defaultRoute() throws -> DefaultRoute? {
        let routes = try dump(type: UInt16(RTM_GETROUTE), headerSize: MemoryLayout<rtmsg>.size)
        let links = try dump(type: UInt16(RTM_GETLINK), headerSize: MemoryLayout<ifinfomsg>.size)
        let addresses = try dump(type: UInt16(RTM_GETADDR), headerSize: MemoryLayout<ifaddrmsg>.size)
        return DefaultRoute.find(routes: routes, links: links, addresses: addresses)
    }

    /// Sends an AF_INET dump request and returns every message of the reply.
    func dump(type: UInt16, headerSize: Int) throws -> [NetlinkMessage] {
        sequence &+= 1
        let seq = sequence
        var request = [UInt8](repeating: 0, count: 64)
        let length = request.withUnsafeMutableBytes { raw in
            let header = mnl_nlmsg_put_header(raw.baseAddress)!
            header.pointee.nlmsg_type = type
            header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | NLM_F_DUMP)
            header.pointee.nlmsg_seq = seq
            let family = mnl_nlmsg_put_extra_header(header, headerSize)!
            family.storeBytes(of: UInt8(AF_INET), as: UInt8.self)
            return Int(header.pointee.nlmsg_len)
        }
        try transport.send(Array(request[0..<length]))
        let collector = DumpCollector(headerSize: headerSize)
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        let portID = transport.portID
        while true {
            let reply = try transport.receive()
            // Not retried on EINTR: here it means the kernel flagged the dump as interrupted
            // (NLM_F_DUMP_INTR), and parsing the same bytes again would say so forever.
            let result = try reply.withUnsafeBytes { raw in
                try systemCall(.netlink, "read a netlink dump", retryingInterrupted: false) {
                    mnl_cb_run(raw.baseAddress, raw.count, seq, portID, { header, data in
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
            }
            if result == MNL_CB_STOP { break }
        }
        return collector.messages
    }
}

/// Collects the messages of one dump (filled by libmnl callbacks on this thread).
private final class DumpCollector {
    let headerSize: Int
    var messages: [NetlinkMessage] = []
    var attributes: [UInt16: [UInt8]] = [:]
    init(headerSize: Int) { self.headerSize = headerSize }
}
