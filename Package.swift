// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "KubeSeed",
    platforms: [.macOS(.v14)],
    products: [
        // One binary: `seed` is also `seed-agent` when called by that name (Sources/seed/SeedMain.swift);
        // the .deb, the VM tests and the benchmarks install it with a `seed-agent` symlink.
        .executable(name: "seed", targets: ["seed"]),
        // For the fuzz targets in Fuzz/ (a package of its own that depends on this one by path).
        .library(name: "KubeSeedCore", targets: ["KubeSeedCore"]),
        .library(name: "KubeSeedHost", targets: ["KubeSeedHost"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(
            name: "CKmod", pkgConfig: "libkmod",
            providers: [.apt(["libkmod-dev"])]),
        .systemLibrary(
            name: "CMnl", pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Linux headers Glibc's module map leaves out (swapon/swapoff).
        .systemLibrary(name: "CLinux"),
        // Pure model and logic: settings, validation, the plan, renderers, the change journal.
        .target(
            name: "KubeSeedCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "X509", package: "swift-certificates"),
            ]),
        // Cluster PKI: CA, leaf certificates, keys (swift-certificates, swift-crypto).
        .target(
            name: "KubeSeedPKI",
            dependencies: [
                "KubeSeedCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]),
        // The only module that touches the host (files under a HostRoot, kmod, sd-bus, swap).
        .target(
            name: "KubeSeedHost",
            dependencies: [
                "KubeSeedCore", "KubeSeedPKI", "CSystemd", "CKmod", "CMnl", "CLinux", "CZlib",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // The Kubernetes API and etcd over HTTPS with mutual TLS (AsyncHTTPClient).
        .target(
            name: "KubeSeedAPI",
            dependencies: [
                "KubeSeedCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .target(
            name: "KubeSeedCommands",
            dependencies: [
                "KubeSeedCore", "KubeSeedHost", "KubeSeedPKI", "KubeSeedAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "seed", dependencies: ["KubeSeedCommands"]),
        .target(name: "KubeSeedTestSupport", path: "Tests/Support"),
        // Recording fakes of kmod, swap, systemd and timedate1, and a temporary root laid out like a Debian
        // host: for the unit tests of KubeSeedHost and of the commands.
        .target(name: "KubeSeedHostFakes", dependencies: ["KubeSeedHost", "KubeSeedCore", "KubeSeedPKI"], path: "Tests/HostFakes"),
        .testTarget(
            name: "KubeSeedCoreTests",
            dependencies: [
                "KubeSeedCore", "KubeSeedTestSupport",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            exclude: ["Golden"]),
        .testTarget(
            name: "KubeSeedPKITests",
            dependencies: [
                "KubeSeedPKI", "KubeSeedCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]),
        .testTarget(
            name: "KubeSeedAPITests",
            dependencies: [
                "KubeSeedAPI", "KubeSeedCore", "KubeSeedPKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ]),
        .testTarget(
            name: "KubeSeedHostTests",
            dependencies: [
                "KubeSeedHost", "KubeSeedCore", "KubeSeedPKI", "CSystemd", "KubeSeedTestSupport", "KubeSeedHostFakes",
                .product(name: "X509", package: "swift-certificates"),
            ]),
        // The commands (seed, seed-agent) run in process against a temporary root, with the host fakes and
        // an in-memory cluster (FakeCluster); the real API server tests start Kubernetes 1.20.2 on loopback.
        .testTarget(
            name: "KubeSeedCommandsTests",
            dependencies: [
                "KubeSeedCommands", "KubeSeedHost", "KubeSeedCore", "KubeSeedPKI", "KubeSeedAPI", "CSystemd",
                "KubeSeedTestSupport", "KubeSeedHostFakes",
                .product(name: "X509", package: "swift-certificates"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
