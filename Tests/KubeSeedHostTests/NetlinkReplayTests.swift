import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost

/// The default-route lookup (`RouteTableReader`) fed rtnetlink replies by a fake transport. This is a
/// replay, not the kernel: no socket is opened; the requests the reader builds are recorded and
/// canned reply bytes are handed back, then parsed by libmnl's `mnl_cb_run` exactly as live replies are.
/// One case replays bytes captured from a Linux 6.x kernel; the others are built byte by byte below.
@Suite struct NetlinkReplayTests {
    /// The reader's sequence counter starts here, so requests carry 101, 102, 103 (routes, links, addresses).
    static let firstSequence: UInt32 = 100

    @Test func capturedKernelRepliesGiveTheDefaultRoute() throws {
        let transport = ReplayNetlinkTransport(replies: CapturedRTNetlink.replies.map(RTNetlink.bytes(hex:)))
        let route = try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()
        #expect(route == DefaultRoute(interface: "veth0", address: "198.51.100.7", gateway: "198.51.100.1"))
        // The kernel answered these very requests: the reader must still build them byte for byte.
        #expect(transport.requests == CapturedRTNetlink.requests.map(RTNetlink.bytes(hex:)))
    }

    @Test func handBuiltRepliesGiveTheLowestMetricDefaultRoute() throws {
        let routes = RTNetlink.route(seq: 101, dstLength: 24, destination: [192, 0, 2, 0], oif: 2, metric: nil, gateway: nil)
            + RTNetlink.route(seq: 101, oif: 3, metric: 200, gateway: [192, 0, 2, 254])
            + RTNetlink.route(seq: 101, oif: 2, metric: 100, gateway: [192, 0, 2, 1])
            + RTNetlink.done(seq: 101)
        let links = RTNetlink.link(seq: 102, index: 1, name: "lo") + RTNetlink.link(seq: 102, index: 2, name: "eth0")
            + RTNetlink.link(seq: 102, index: 3, name: "eth1")
        let addresses = RTNetlink.address(seq: 103, index: 1, [127, 0, 0, 1], prefixLength: 8)
            + RTNetlink.address(seq: 103, index: 2, [192, 0, 2, 10], prefixLength: 24)
        // Links end in a datagram of their own, as the kernel sends NLMSG_DONE.
        let transport = ReplayNetlinkTransport(replies: [routes, links, RTNetlink.done(seq: 102), addresses + RTNetlink.done(seq: 103)])

        let route = try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()

        #expect(route == DefaultRoute(interface: "eth0", address: "192.0.2.10", gateway: "192.0.2.1"))
        #expect(transport.requests.map(RTNetlink.messageType) == [RTNetlink.getRoute, RTNetlink.getLink, RTNetlink.getAddress])
        #expect(transport.requests.map(RTNetlink.sequence) == [101, 102, 103])
        #expect(transport.requests.map(RTNetlink.flags) == Array(repeating: RTNetlink.requestDump, count: 3))
        #expect(transport.requests.map { $0[16] } == Array(repeating: UInt8(AF_INET), count: 3), "AF_INET dumps")
    }

    @Test func routeWhoseLinkIsNotListedIsNamedByInterfaceIndex() throws {
        let transport = ReplayNetlinkTransport(replies: [
            RTNetlink.route(seq: 101, oif: 7, metric: nil, gateway: [192, 0, 2, 1]) + RTNetlink.done(seq: 101),
            RTNetlink.done(seq: 102),
            RTNetlink.address(seq: 103, index: 2, [192, 0, 2, 10], prefixLength: 24) + RTNetlink.done(seq: 103),
        ])
        let route = try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()
        #expect(route == DefaultRoute(interface: "ifindex 7", address: nil, gateway: "192.0.2.1"))
    }

    @Test func errorReplyBecomesANetlinkHostError() throws {
        let request = RTNetlink.requestHeader(type: RTNetlink.getRoute, seq: 101)
        let transport = ReplayNetlinkTransport(replies: [RTNetlink.error(seq: 101, errno: EPERM, request: request)])
        let error = try #require(throws: HostError.self) {
            try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()
        }
        #expect(error.code == .netlink)
        #expect(error.errnoValue == EPERM)
        #expect(!error.isRetryable)
        #expect(transport.requests.count == 1, "no further dump after the error")
    }

    @Test func interruptedDumpIsARetryableErrorAndNotRetriedInPlace() throws {
        let interrupted = RTNetlink.route(seq: 101, oif: 2, metric: nil, gateway: [192, 0, 2, 1],
                                          flags: RTNetlink.multipart | RTNetlink.dumpInterrupted)
        let transport = ReplayNetlinkTransport(replies: [interrupted + RTNetlink.done(seq: 101)])
        let error = try #require(throws: HostError.self) {
            try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()
        }
        #expect(error.code == .netlink)
        #expect(error.errnoValue == EINTR)
        #expect(error.isRetryable)
    }

    @Test func replyToAnotherRequestIsRefused() throws {
        let transport = ReplayNetlinkTransport(replies: [
            RTNetlink.route(seq: 999, oif: 2, metric: nil, gateway: [192, 0, 2, 1]) + RTNetlink.done(seq: 999),
        ])
        let error = try #require(throws: HostError.self) {
            try RouteTableReader(transport: transport, sequence: Self.firstSequence).defaultRoute()
        }
        #expect(error.code == .netlink)
        #expect(error.errnoValue == EPROTO, "libmnl's answer to a sequence number it did not send")
    }
}

/// A fake `NetlinkTransport`: records each request and hands back canned reply datagrams in order.
final class ReplayNetlinkTransport: NetlinkTransport {
    let portID: UInt32 = 0
    private(set) var requests: [[UInt8]] = []
    private var replies: [[UInt8]]

    init(replies: [[UInt8]]) { self.replies = replies }

    func send(_ request: [UInt8]) throws { requests.append(request) }

    func receive() throws -> [UInt8] {
        guard !replies.isEmpty else { throw HostError(.netlink, "read a netlink reply", cause: "the replay has no more replies") }
        return replies.removeFirst()
    }
}

/// rtnetlink messages laid out as the kernel sends them: native byte order, 4-byte alignment
/// (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h).
enum RTNetlink {
    static let nlmsgError: UInt16 = 2, nlmsgDone: UInt16 = 3
    static let newLink: UInt16 = 16, getLink: UInt16 = 18, newAddress: UInt16 = 20, getAddress: UInt16 = 22
    static let newRoute: UInt16 = 24, getRoute: UInt16 = 26
    static let multipart: UInt16 = 0x2, dumpInterrupted: UInt16 = 0x10, requestDump: UInt16 = 0x1 | 0x300
    static let rtaDestination: UInt16 = 1, rtaOIF: UInt16 = 4, rtaGateway: UInt16 = 5, rtaPriority: UInt16 = 6, rtaTable: UInt16 = 15
    static let iflaIfname: UInt16 = 3
    static let ifaAddress: UInt16 = 1, ifaLocal: UInt16 = 2

    static func native<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4) }

    /// An rtattr: length (header included, padding not), type, payload, padding.
    static func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        padded(native(UInt16(4 + payload.count)) + native(type) + payload)
    }

    /// An nlmsghdr (length, type, flags, sequence, port 0) followed by `body`.
    static func message(type: UInt16, flags: UInt16 = multipart, seq: UInt32, body: [UInt8]) -> [UInt8] {
        native(UInt32(16 + body.count)) + native(type) + native(flags) + native(seq) + native(UInt32(0)) + padded(body)
    }

    /// RTM_NEWROUTE: rtmsg (AF_INET, main table, boot protocol, universe scope, unicast), then RTA_TABLE,
    /// RTA_DST unless default, RTA_PRIORITY if a metric, RTA_GATEWAY if any, RTA_OIF.
    static func route(seq: UInt32, dstLength: UInt8 = 0, destination: [UInt8]? = nil, oif: UInt32, metric: UInt32?,
                      gateway: [UInt8]?, flags: UInt16 = multipart) -> [UInt8] {
        let rtmsg: [UInt8] = [UInt8(AF_INET), dstLength, 0, 0, 254, 3, 0, 1] + native(UInt32(0))
        var attributes = attribute(rtaTable, native(UInt32(254)))
        if let destination { attributes += attribute(rtaDestination, destination) }
        if let metric { attributes += attribute(rtaPriority, native(metric)) }
        if let gateway { attributes += attribute(rtaGateway, gateway) }
        attributes += attribute(rtaOIF, native(oif))
        return message(type: newRoute, flags: flags, seq: seq, body: rtmsg + attributes)
    }

    /// RTM_NEWLINK: ifinfomsg (ARPHRD_ETHER, IFF_UP), then IFLA_IFNAME with its NUL.
    static func link(seq: UInt32, index: Int32, name: String) -> [UInt8] {
        let ifinfomsg: [UInt8] = [0, 0] + native(UInt16(1)) + native(index) + native(UInt32(0x1)) + native(UInt32(0))
        return message(type: newLink, seq: seq, body: ifinfomsg + attribute(iflaIfname, Array(name.utf8) + [0]))
    }

    /// RTM_NEWADDR: ifaddrmsg (AF_INET), then IFA_ADDRESS and IFA_LOCAL (equal on a non-point-to-point link).
    static func address(seq: UInt32, index: UInt32, _ address: [UInt8], prefixLength: UInt8) -> [UInt8] {
        let ifaddrmsg: [UInt8] = [UInt8(AF_INET), prefixLength, 0, 0] + native(index)
        return message(type: newAddress, seq: seq, body: ifaddrmsg + attribute(ifaAddress, address) + attribute(ifaLocal, address))
    }

    /// NLMSG_DONE with the int the kernel puts after it.
    static func done(seq: UInt32) -> [UInt8] {
        message(type: nlmsgDone, seq: seq, body: native(Int32(0)))
    }

    /// NLMSG_ERROR: the negative errno, then the header of the request it answers.
    static func error(seq: UInt32, errno value: Int32, request: [UInt8]) -> [UInt8] {
        message(type: nlmsgError, flags: 0, seq: seq, body: native(-value) + request.prefix(16))
    }

    /// The nlmsghdr of a dump request as the reader sends it.
    static func requestHeader(type: UInt16, seq: UInt32) -> [UInt8] {
        native(UInt32(16)) + native(type) + native(requestDump) + native(seq) + native(UInt32(0))
    }

    static func messageType(_ message: [UInt8]) -> UInt16 { message.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self) } }
    static func flags(_ message: [UInt8]) -> UInt16 { message.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 6, as: UInt16.self) } }
    static func sequence(_ message: [UInt8]) -> UInt32 { message.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) } }

    /// Hex digits to bytes; whitespace and line breaks are ignored.
    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.unicodeScalars.filter { !$0.properties.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(String.UnicodeScalarView(digits[$0..<$0 + 2])), radix: 16)! }
    }
}

/// Datagrams a Linux 6.x kernel (x86-64, little-endian) sent in a network namespace with `lo` and
/// `veth0` (198.51.100.7/24, `default via 198.51.100.1 metric 100`), answering the three dump requests
/// below (sequence 101–103, port 0), read with a raw NETLINK_ROUTE socket.
enum CapturedRTNetlink {
    static let requests = [
        "1c0000001a0001036500000000000000020000000000000000000000",
        "2000000012000103660000000000000002000000000000000000000000000000",
        "180000001600010367000000000000000200000000000000",
    ]

    static let replies = [
        // routes
        """
        3c00000018000200650000000444000002000000fe0300010000000008000f00fe000000080006006400000008000500c633640108000400
        030000003c00000018000200650000000444000002180000fe02fd010000000008000f00fe00000008000100c633640008000700c6336407
        08000400030000003c00000018000200650000000444000002080000ff02fe020000000008000f00ff000000080001007f00000008000700
        7f00000108000400010000003c00000018000200650000000444000002200000ff02fe020000000008000f00ff000000080001007f000001
        080007007f00000108000400010000003c00000018000200650000000444000002200000ff02fd030000000008000f00ff00000008000100
        7fffffff080007007f00000108000400010000003c00000018000200650000000444000002200000ff02fe020000000008000f00ff000000
        08000100c633640708000700c633640708000400030000003c00000018000200650000000444000002200000ff02fd030000000008000f00
        ff00000008000100c63364ff08000700c63364070800040003000000
        """,
        """
        1400000003000200650000000444000000000000
        """,
        // links
        """
        bc05000010000200660000000444000000000403010000004900010000000000070003006c6f000008000d00e80300000500100000000000
        0500110000000000050043000100000008000400000001000800320000000000080033000000000008001b000000000008001e0000000000
        08003d000000000008001f000100000008002800ffff0000080029000000010008003a000000010008003f00000001000800400000000100
        08003b00f8ff070008003c00ffff0000080042000000000008002000010000000500210001000000080023000000000008002f0000000000
        08003000000000000600440000000000060045000000000005002700000000000a00010000000000000000000a0002000000000000000000
        cc00170000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000006400070000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000c002b0005000200000000000c0006006e6f71756575650030031a008c000200
        8800010000000000000000000000000001000000010000000100000001000000000000000100000000000000000000000000000000000000
        0000000001000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000010270000
        e80300000000000000000000000000000000000001000000a0020a00080001000000008014000500ffff0000dfc70700888f0000e8030000
        f400020000000000400000000000010001000000010000000100000001000000ffffffffa00f0000e8030000ffffffff803a090080510100
        0300000058020000100000000000000001000000010000000100000060ea0000000000000000000000000000000000000000000000000000
        ffffffff000000000000000010270000e8030000010000000000000000000000010000000000000000000000010000000000000000000000
        000000000000000080ee360000000000000000000100000000000000000000000000000000000000000000000004000000000000ffff0000
        ffffffff01000000000000000000000000000000340103002600000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003c00060007000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000014000700
        00000000000000000000000000000000050008000000000024000e0000000000000000000000000000000000000000000000000000000000
        0000000004003e8004004180e0050000100002006600000004440000000001000300000043100100000000000a0003007665746830000000
        08000d00e803000005001000060000000500110000000000050043000000000008000400dc050000080032004400000008003300ffff0000
        08001b000000000008001e000000000008003d000000000008001f000200000008002800ffff0000080029000000010008003a0000000100
        08003f0000000100080040000000010008003b00f8ff070008003c00ffff0000080042000000000008002000020000000500210001000000
        080023000200000008002f000100000008003000010000000600440000000000060045000000000005002700000000000a000100fe6a97f8
        0b6e00000a000200ffffffffffff0000cc001700070000000000000007000000000000004a020000000000004a0200000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000064000700
        07000000070000004a0200004a02000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        000000000000000000000000000000000000000000000000000000000000000000000000000000000c002b00050002000000000010001200
        090001007665746800000000080025000000000008000500020000000c0006006e6f71756575650030031a008c0002008800010000000000
        0000000000000000010000000100000001000000010000000000000001000000000000000000000000000000000000000000000000000000
        000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010270000e803000000000000
        00000000000000000000000001000000a0020a00080001001000008014000500ffff0000dfc70700d4510000e8030000f400020000000000
        40000000dc05000001000000010000000100000001000000ffffffffa00f0000e803000000000000803a0900805101000300000058020000
        100000000000000001000000010000000100000060ea00000000000000000000000000000000000000000000000000000100000000000000
        0000000010270000e80300000100000000000000000000000100000000000000000000000100000000000000000000000000000000000000
        80ee360000000000000000000100000000000000000000000000000000000000000000000004000000000000ffff0000ffffffff01000000
        0000000000000000000000003401030026000000000000000700000000000000e80100000000000000000000000000000700000000000000
        00000000000000000000000000000000000000000000000007000000000000000700000000000000e8010000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        000000000000000000000000000000000700000000000000070000000000000000000000000000000000000000000000e801000000000000
        e80100000000000000000000000000000000000000000000000000000000000000000000000000003c000600070000000000000000000000
        0000000000000000000000000700000000000000000000000000000000000000000000000000000000000000140007000000000000000000
        0000000000000000050008000000000024000e00000000000000000000000000000000000000000000000000000000000000000004003e80
        04004180
        """,
        """
        1400000003000200660000000444000000000000
        """,
        // addresses
        """
        4c000000140002006700000004440000020880fe01000000080001007f000001080002007f000001070003006c6f00000800080080000000
        14000600ffffffffffffffffdfc70700dfc7070050000000140002006700000004440000021880000300000008000100c633640708000200
        c63364070a0003007665746830000000080008008000000014000600ffffffffffffffffdfc70700dfc70700
        """,
        """
        1400000003000200670000000444000000000000
        """,
    ]
}
