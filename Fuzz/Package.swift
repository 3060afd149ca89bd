// swift-tools-version: 6.0
// libFuzzer targets for KubeSeed's parsers of untrusted input. Build and run them with
// Tests/fuzz-smoke.sh (CI, a short run of each) or Benchmarks/fuzz.sh (the long run); the build is
//   swift build --package-path Fuzz --scratch-path Fuzz/.build -c release \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address
// (see Fuzz/fuzz-lib.sh, which both scripts use). Fuzz/README.md says what each target checks.
import PackageDescription

// The main package, by path. SwiftPM names a path dependency after its directory, so take the name
// from where this package sits instead of assuming the checkout is called "main".
let mainPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "main").lowercased()
let core = Target.Dependency.product(name: "KubeSeedCore", package: mainPackage)
let host = Target.Dependency.product(name: "KubeSeedHost", package: mainPackage)

let package = Package(
    name: "KubeSeedFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        // For the archive target's SHA-256 (the main package resolves the same version).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // What every target shares: the input as text, the fixed clock, reporting a finding.
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver", core]),
        // The declaration of libFuzzer's driver, which each target's entry point calls.
        .target(name: "CFuzzerDriver"),
        // JoinFile.parse: YAML (Yams/libyaml), field validation, the CA certificate (swift-certificates),
        // and the redaction of every message (no error may repeat the bootstrap token).
        .executableTarget(name: "FuzzJoinFile", dependencies: ["FuzzSupport", core]),
        // ClusterConfig.parse.
        .executableTarget(name: "FuzzClusterConfig", dependencies: ["FuzzSupport", core]),
        // AgentConfig.parse.
        .executableTarget(name: "FuzzAgentConfig", dependencies: ["FuzzSupport", core]),
        // TarHeader (KubeSeedCore/Support/TarHeader.swift): header blocks, padding, pax records, member names. Pure.
        .executableTarget(name: "FuzzTarHeader", dependencies: ["FuzzSupport", core]),
        // What other machines answer: etcd's membership JSON, the API server's EndpointSlice, and the
        // state file the agent keeps from it. Pure.
        .executableTarget(name: "FuzzAPIAnswers", dependencies: ["FuzzSupport", core]),
        // The CSR approver's reader of spec.request (one canonical PEM block) and its review. Pure.
        .executableTarget(name: "FuzzCSRReader", dependencies: ["FuzzSupport", core]),
        // BinaryInstaller.install (KubeSeedHost): gzip (zlib) + tar stream + SHA-256 + install, against a
        // HostRoot in /dev/shm.
        .executableTarget(name: "FuzzArchive", dependencies: ["FuzzSupport", core, host, .product(name: "Crypto", package: "swift-crypto")]),
    ],
    swiftLanguageModes: [.v6]
)
