import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension InitPhase {
    static let nodeRoles = InitPhase(name: "node roles", skipReason: needsAPIServer) { operations, context in
        try await operations.nodeRoles(context.masterIP)
    }
}

extension MasterOperations {
    /// What this master knows of the cluster's machines: `seed init`'s record and every join minted here
    /// (`MintedJoinStore`), with the entries that could not be read (left out; the others stand).
    static func addressBook(root: HostRoot, etcdMembers: [EtcdMember] = []) throws -> (book: AddressBook, problems: [String]) {
        guard let text = try root.readText(ClusterConfig.recordPath) else {
            throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' first")
        }
        let cluster = try ClusterConfig.parse(text, file: ClusterConfig.recordPath)
        let (minted, problems) = try MintedJoinStore(root: root).load()
        return (AddressBook(cluster: cluster, minted: minted, etcdMembers: etcdMembers), problems)
    }

    /// The book with every master of the cluster (the etcd members, as this master's etcd lists them;
    /// none when it does not answer).
    func fullAddressBook() async throws -> AddressBook {
        try Self.addressBook(root: root, etcdMembers: (try? await localEtcdMembers()) ?? []).book
    }

    /// `seed csr-approver`: watches CSRs and decides kubelet-serving ones until stopped. Exit 2 when
    /// `seed init` has not run here (nothing to check against); otherwise it runs until stopped.
    public func approveCSRs() async -> Int32 {
        guard effectiveUID == 0 else { write("seed csr-approver: must run as root (it reads the admin key)\n"); return 1 }
        let masterIP: String
        let client: any APIClient
        // seed init starts this unit with the API server and writes its record a few phases later:
        // wait for it (the unit's start must not fail the init that is under way).
        if !root.exists(ClusterConfig.recordPath), root.exists("/etc/systemd/system/\(ControlPlane.csrApproverUnit)") {
            ServiceNotifier.notify("READY=1")
            ServiceNotifier.notify("STATUS=waiting for seed init to record the cluster (\(ClusterConfig.recordPath))")
            write("seed csr-approver: waiting for seed init to write \(ClusterConfig.recordPath)\n")
            while !root.exists(ClusterConfig.recordPath) { try? await Task.sleep(for: .seconds(2)) }
        }
        do {
            let book = try await fullAddressBook()
            guard let ip = try recordedConfig()?.masterIP else { throw HostError(.file, "\(ClusterConfig.recordPath) has no master.ip") }
            masterIP = ip
            client = try connect(Self.url(masterIP, 6443), try identity("admin"), APITimeouts(read: .seconds(330)))
            write("seed csr-approver: watching kubelet-serving CSRs at \(Self.url(masterIP, 6443)); \(book.nodes.count) nodes and \(book.masters.count) masters known\n")
        } catch {
            write("seed csr-approver: \(error)\n")
            return 2
        }
        var reader = MasterOperations(root: root, effects: effects, effectiveUID: effectiveUID)
        reader.certDirectory = certDirectory
        reader.connect = connect
        let log: @Sendable (String) -> Void = { CurrentProcess.writeError((Validate.printable($0) + "\n")) }
        let books = AddressBookReader(operations: .init(reader), log: log)
        let approver = CSRApprover(client: client, addressBook: { try await books.read() }, log: log,
                                   status: { ServiceNotifier.notify("STATUS=\(Validate.printable($0))") })
        ServiceNotifier.notify("READY=1")
        await approver.run()
        await approver.drain()
        await books.shutdown()
        await client.shutdown()
        return 0
    }

    /// Role labels and the control-plane taint for every node this master minted a join file for (and
    /// itself), on the Nodes that exist; the approver labels the others as they register. An API server
    /// too busy to answer leaves the phase waiting, not failed: the join or init is otherwise done.
    func nodeRoles(_ masterIP: String) async throws -> InitPhase.Result {
        let book = try await fullAddressBook()
        let report = try await withClient(Self.url(masterIP, 6443), presenting: "admin") { try await NodeLabeller.ensureAll(book.roles, with: $0) }
        var notes: [String] = []
        if !report.absent.isEmpty {
            notes.append("not registered yet (labelled by the CSR approver when they are): \(report.absent.joined(separator: " "))")
        }
        if !report.unanswered.isEmpty {
            notes.append("the API server did not answer for \(report.unanswered.joined(separator: " ")) (\(report.cause ?? "no answer")); "
                         + "the CSR approver labels each when its kubelet asks for a serving certificate, or run this again")
        }
        var done: [String] = []
        if !report.patched.isEmpty { done.append("labelled \(report.patched.joined(separator: " "))") }
        if !report.unchanged.isEmpty { done.append("\(report.unchanged.count) Nodes have their roles") }
        let parts = done + notes
        let detail = parts.isEmpty ? "no Node to label" : parts.joined(separator: "; ")
        if !report.unanswered.isEmpty { return InitPhase.Result(state: .waiting, detail: detail, changes: report.patched.count) }
        return InitPhase.Result(state: report.patched.isEmpty ? .ok : .changed, detail: detail, changes: report.patched.count)
    }
}

/// The approver's address book, read once and again only when it changes: the store's and the record's
/// SHA-256 are compared at each review (no file is parsed while they stay), and the etcd members are
/// asked at most every `membersInterval` over one client kept for the approver's life.
actor AddressBookReader {
    /// A master's operations are not Sendable (their output closure is the caller's); this copy is built
    /// without one and used only here.
    final class Operations: @unchecked Sendable {
        let value: MasterOperations
        init(_ value: MasterOperations) { self.value = value }
    }
    nonisolated let box: Operations
    var operations: MasterOperations { box.value }
    let log: @Sendable (String) -> Void
    let membersInterval: Duration
    private var cached: (fingerprint: String, book: AddressBook)?
    private var members: [EtcdMember] = []
    private var membersAsked: ContinuousClock.Instant?
    private var etcd: (client: any APIClient, cluster: EtcdClusterClient)?

    init(operations: Operations, log: @escaping @Sendable (String) -> Void, membersInterval: Duration = .seconds(30)) {
        self.box = operations
        self.log = log
        self.membersInterval = membersInterval
    }

    func read() async throws -> AddressBook {
        let clock = ContinuousClock()
        var membersChanged = false
        if membersAsked.map({ clock.now - $0 >= membersInterval }) ?? true {
            membersAsked = clock.now
            if let fresh = await askMembers(), fresh != members { members = fresh; membersChanged = true }
        }
        let root = operations.root
        let fingerprint = MintedJoinStore(root: root).fingerprint() + (((try? root.read(ClusterConfig.recordPath)) ?? nil).map(ChangeJournal.sha256) ?? "-")
        if let cached, cached.fingerprint == fingerprint, !membersChanged { return cached.book }
        let (book, problems) = try MasterOperations.addressBook(root: root, etcdMembers: members)
        for problem in problems { log("csr-approver: address book: \(problem) (left out)") }
        cached = (fingerprint, book)
        return book
    }

    private func askMembers() async -> [EtcdMember]? {
        do {
            if etcd == nil {
                guard let ip = try operations.recordedConfig()?.masterIP else { return nil }
                let client = try operations.connect(MasterOperations.url(ip, 2379), try operations.etcdIdentity(), APITimeouts())
                etcd = (client, EtcdClusterClient(clients: [client]))
            }
            return try await etcd!.cluster.list().members
        } catch {
            // Made again at the next ask: the certificates it was made with may have been replaced since.
            await etcd?.client.shutdown()
            etcd = nil
            log("csr-approver: etcd members not read (\(error)); the book keeps the last ones")
            return nil
        }
    }

    func shutdown() async {
        await etcd?.client.shutdown()
        etcd = nil
    }
}
