import CKmod
import KubeSeedCore

/// Kernel modules through libkmod (the library modprobe uses), never by running modprobe.
public final class LiveKernelModules: KernelModuleControl {
    /// Created on first use: a pass that finds every module loaded (read from /sys/module) never
    /// parses modprobe.d or maps the module indexes.
    private var lazyContext: OpaquePointer?

    public init() throws {}

    deinit { if let lazyContext { kmod_unref(lazyContext) } }

    private func context() -> OpaquePointer? {
        if let lazyContext { return lazyContext }
        guard let context = kmod_new(nil, nil) else { return nil }
        // libkmod prints its own errors to stderr; ours carry the same facts with context.
        kmod_set_log_priority(context, 0)
        // Without indexes libkmod falls back to reading files; a failure here is not fatal.
        _ = kmod_load_resources(context)
        lazyContext = context
        return context
    }

    /// The first module an alias or name resolves to (the caller unrefs it).
    private func lookup(_ name: String) -> OpaquePointer? {
        var list: OpaquePointer?
        guard let context = context(), kmod_module_new_from_lookup(context, name, &list) >= 0, let list else { return nil }
        defer { kmod_module_unref_list(list) }
        guard let module = kmod_module_get_module(list) else { return nil }
        return module
    }

    public func indexState(of name: String) -> ModuleState {
        guard let module = lookup(name) else { return .missing }
        defer { kmod_module_unref(module) }
        let state = kmod_module_get_initstate(module)
        if state == Int32(KMOD_MODULE_BUILTIN.rawValue) { return .builtin }
        if state == Int32(KMOD_MODULE_LIVE.rawValue) { return .loaded }
        return kmod_module_get_path(module) != nil ? .loadable : .missing
    }

    public func load(_ name: String) throws {
        guard context() != nil else { throw HostError(.kmod, "load module \(name)", cause: "could not create a libkmod context") }
        guard let module = lookup(name) else {
            throw HostError(.kmod, "load module \(name)", cause: "not found in the module index of this kernel")
        }
        defer { kmod_module_unref(module) }
        try negativeErrnoCall(.kmod, "load module \(name)") {
            kmod_module_probe_insert_module(module, 0, nil, nil, nil, nil)
        }
    }

    public func unload(_ name: String) throws {
        guard let module = lookup(name) else { return }
        defer { kmod_module_unref(module) }
        try negativeErrnoCall(.kmod, "unload module \(name)") { kmod_module_remove_module(module, 0) }
    }
}
