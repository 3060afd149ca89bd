/// One rtnetlink message from a dump: its family header bytes and its attributes by type.
public struct NetlinkMessage: Sendable, Equatable {
    public var header: [UInt8]
    public var attributes: [UInt16: [UInt8]]

    public init(header: [UInt8], attributes: [UInt16: [UInt8]]) {
        self.header = header
        self.attributes = attributes
    }
}

/// The IPv4 default route and the address kubelet would use as the node IP.
public struct DefaultRoute: Sendable, Equatable {
    public var interface: String
    public var address: String?
    public var gateway: String?

    public init(interface: String, address: String?, gateway: String?) {
        self.interface = interface
        self.address = address
        self.gateway = gateway
    }

    // rtnetlink constants (linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h).
    static let rtaOIF: UInt16 = 4, rtaGateway: UInt16 = 5, rtaPriority: UInt16 = 6, rtaTable: UInt16 = 15
    static let iflaIfname: UInt16 = 3
    static let ifaAddress: UInt16 = 1, ifaLocal: UInt16 = 2
    static let tableMain: UInt32 = 254, typeUnicast: UInt8 = 1

    /// Picks the main-table IPv4 default route with the lowest metric from dumps of routes
    /// (`rtmsg` headers), links (`ifinfomsg`) and addresses (`ifaddrmsg`). Pure.
    public static func find(routes: [NetlinkMessage], links: [NetlinkMessage], addresses: [NetlinkMessage]) -> DefaultRoute? {
        var best: (metric: UInt32, oif: UInt32, gateway: [UInt8]?)?
        for route in routes where route.header.count >= 12 {
            let dstLen = route.header[1], table = route.attributes[rtaTable].map(u32) ?? UInt32(route.header[4])
            guard dstLen == 0, table == tableMain, route.header[7] == typeUnicast,
                  let oif = route.attributes[rtaOIF].map(u32) else { continue }
            let metric = route.attributes[rtaPriority].map(u32) ?? 0
            if best == nil || metric < best!.metric { best = (metric, oif, route.attributes[rtaGateway]) }
        }
        guard let best else { return nil }
        let name = links.first { $0.header.count >= 8 && u32(Array($0.header[4..<8])) == best.oif }
            .flatMap { $0.attributes[iflaIfname] }
            .map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } ?? "ifindex \(best.oif)"
        let address = addresses.first { $0.header.count >= 8 && u32(Array($0.header[4..<8])) == best.oif }
            .flatMap { $0.attributes[ifaLocal] ?? $0.attributes[ifaAddress] }
        return DefaultRoute(interface: name, address: address.flatMap(ipv4), gateway: best.gateway.flatMap(ipv4))
    }

    /// Native-endian u32 (netlink uses host byte order for these fields).
    static func u32(_ bytes: [UInt8]) -> UInt32 {
        guard bytes.count >= 4 else { return 0 }
        return bytes.prefix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    static func ipv4(_ bytes: [UInt8]) -> String? {
        bytes.count == 4 ? bytes.map(String.init).joined(separator: ".") : nil
    }
}
