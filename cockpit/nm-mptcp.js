/* nm-mptcp's Cockpit page: every NetworkManager connection profile with its MPTCP flags,
 * the addresses and why each is or is not an endpoint, the kernel's endpoints with their
 * owner and subflows, the limits and the warnings with their fix, all from nm-mptcp's
 * D-Bus service (io.github.nm_mptcp1), followed through its PropertiesChanged signals.
 * An administrator changes a profile's flags through NetworkManager's own D-Bus API
 * (Update2, then Reapply of the applied connection with only the flags replaced on its active
 * device): NetworkManager stays the owner of profiles.
 */
"use strict";

const NM = "org.freedesktop.NetworkManager";
const NM_PATH = "/org/freedesktop/NetworkManager";
const SETTINGS = NM + ".Settings";
const CONNECTION = NM + ".Settings.Connection";
const MANAGER = "io.github.nm_mptcp1.Manager";
/* The Watch lease is 60 s: renewing it every 30 s keeps usage current while the page is open. */
const WATCH_EVERY_MS = 30000;
/* Settings that may hold secrets GetSettings leaves out: Update replaces the whole profile,
 * so they are read and sent back with it. */
const SECRET_SETTINGS = ["802-11-wireless-security", "802-1x", "vpn", "wireguard", "gsm", "cdma",
    "pppoe", "adsl", "bluetooth", "macsec", "wifi-p2p"];
/* NetworkManager's NMMptcpFlags. */
const FLAG_BITS = {
    disabled: 0x1, enabled: 0x2, "also-without-sysctl": 0x4, "also-without-default-route": 0x8,
    signal: 0x10, subflow: 0x20, backup: 0x40, fullmesh: 0x80, laminar: 0x100,
};
const EDITABLE = ["signal", "subflow", "backup", "fullmesh", "laminar", "also-without-default-route"];
const SOURCES = {
    profile: "set in the profile",
    "global-default": "the default from NetworkManager.conf",
    "built-in": "this NetworkManager version's default",
    sysctl: "disabled: net.mptcp.enabled is 0",
};

const nm = cockpit.dbus(NM, { bus: "system", superuser: "try" });
const service = cockpit.dbus("io.github.nm_mptcp1", { bus: "system" });
const manager = service.proxy(MANAGER, "/io/github/nm_mptcp1");
const admin = cockpit.permission({ admin: true });

/* Saved profiles by object path: { id, uuid, type, interface, flags } from GetSettings. */
const profiles = new Map();
/* Checkboxes changed and not applied yet, by profile path: the live updates keep them. */
const pending = new Map();
/* Why the last apply of a profile failed, by path, until the next one. */
const applyErrors = new Map();
let applying = null;
/* Whether nm-mptcp's service answered when last seen: a Watch goes out when it comes back. */
let serviceUp = false;
/* Whether the service's first answer (or its absence) is in: until then the page is reading. */
let serviceKnown = false;
/* Why NetworkManager's profiles could not be read, until they can. */
let nmProblem = null;

function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
        if (value === false || value === undefined || value === null)
            continue;
        if (name === "class")
            node.className = value;
        else
            node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
        if (child !== null && child !== undefined)
            node.append(child instanceof Node ? child : String(child));
    }
    return node;
}

function flagWords(bits) {
    if (bits === 0)
        return ["default"];
    return Object.entries(FLAG_BITS).filter(([, bit]) => bits & bit).map(([name]) => name);
}

function unwrap(variant) {
    return variant && typeof variant === "object" && "v" in variant ? variant.v : variant;
}

/* A saved profile as the page needs it, or null when it cannot be read (gone). */
async function profileAt(path) {
    try {
        const [settings] = await nm.call(path, CONNECTION, "GetSettings", []);
        const c = settings.connection || {};
        return {
            id: unwrap(c.id) || "",
            uuid: unwrap(c.uuid) || "",
            type: unwrap(c.type) || "",
            interface: unwrap(c["interface-name"]) || "",
            flags: unwrap(c["mptcp-flags"]) || 0,
            settingsFlags: await property(path, CONNECTION, "Flags"),
        };
    } catch (e) {
        return null;
    }
}

async function readProfile(path) {
    const profile = await profileAt(path);
    if (profile)
        profiles.set(path, profile);
    else
        profiles.delete(path);
}

async function readProfiles() {
    try {
        const [paths] = await nm.call(NM_PATH + "/Settings", SETTINGS, "ListConnections", []);
        // Read whole, then swapped in: a render meanwhile still shows every card.
        const read = await Promise.all(paths.map(async path => [path, await profileAt(path)]));
        profiles.clear();
        for (const [path, profile] of read.filter(([, p]) => p))
            profiles.set(path, profile);
        nmProblem = null;
    } catch (e) {
        nmProblem = `NetworkManager does not answer: ${e.message || e}`;
    }
    render();
}

function status() {
    return {
        profiles: manager.Profiles || [],
        endpoints: manager.Endpoints || [],
        limits: manager.Limits || {},
        warnings: manager.Warnings || [],
        sysctl: manager.Sysctl || {},
        usage: manager.Usage || {},
        nm: manager.NetworkManager || {},
    };
}

function value(dict, key) {
    return unwrap(dict[key]);
}

function endpointsTable(caption, endpoints) {
    const head = el("thead", {}, el("tr", {},
        ["ID", "Address", "Interface", "Flags", "Owner", "Connections", "Subflows"]
            .map(h => el("th", { scope: "col" }, h))));
    const rows = endpoints.map(e => el("tr", {
        "data-endpoint": value(e, "Address"),
        "data-interface": value(e, "Interface"),
        "data-flags": (value(e, "Flags") || []).join(" "),
    },
        el("td", { "data-label": "ID" }, value(e, "Id")),
        el("td", { "data-label": "Address" }, value(e, "Address")),
        el("td", { "data-label": "Interface" }, value(e, "Interface") || "-"),
        el("td", { "data-label": "Flags" }, (value(e, "Flags") || []).join(", ") || "none"),
        el("td", { "data-label": "Owner" }, value(e, "Owner")),
        el("td", { "data-label": "Connections" }, value(e, "Connections") ?? 0),
        el("td", { "data-label": "Subflows" }, value(e, "Subflows") ?? 0)));
    return el("table", { class: "pf-c-table pf-m-compact pf-m-grid-md" },
        el("caption", {}, caption), head, el("tbody", {}, rows));
}

function addressesTable(addresses) {
    const head = el("thead", {}, el("tr", {},
        ["Address", "Decision", "Reason"].map(h => el("th", { scope: "col" }, h))));
    const rows = addresses.map(a => el("tr", {},
        el("td", { "data-label": "Address" }, value(a, "Address")),
        el("td", { "data-label": "Decision" }, value(a, "Decision")),
        el("td", { "data-label": "Reason" },
           `${value(a, "Meaning")} (${value(a, "Reason")})`)));
    return el("table", { class: "pf-c-table pf-m-compact pf-m-grid-md" },
        el("caption", {}, "Addresses"), head, el("tbody", {}, rows));
}

/* The bits of flag words such as ConnectionFlags'. */
function flagBits(words) {
    return words.reduce((bits, word) => bits | (FLAG_BITS[word] || 0), 0);
}

/* What the form starts from: the saved flags, or where the profile is on the default, the
 * flags in effect (or the version's built-in default), so that ticking one box does not
 * drop the others the default gave. */
function startingFlags(profile, effective, laminar) {
    if (profile.flags !== 0)
        return profile.flags;
    if (effective.length)
        return flagBits(effective);
    return FLAG_BITS.enabled | FLAG_BITS.subflow | (laminar ? FLAG_BITS.laminar : 0);
}

function flagsForm(path, profile, effective, laminar, allowed) {
    const id = `flags-${profile.uuid}`;
    const start = startingFlags(profile, effective, laminar);
    const shown = pending.has(path) ? pending.get(path) : start;
    const boxes = EDITABLE.filter(f => f !== "laminar" || laminar).map(flag => {
        const box = el("input", {
            type: "checkbox",
            class: "pf-c-check__input",
            id: `${id}-${flag}`,
            "data-flag": flag,
            checked: (shown & FLAG_BITS[flag]) !== 0,
            disabled: !allowed || applying !== null,
        });
        box.addEventListener("change", () => {
            const bits = pending.has(path) ? pending.get(path) : start;
            pending.set(path, box.checked ? bits | FLAG_BITS[flag] : bits & ~FLAG_BITS[flag]);
        });
        return el("label", { class: "pf-c-check", for: `${id}-${flag}` }, box,
            el("span", { class: "pf-c-check__label" }, flag));
    });
    const apply = el("button", {
        id: `${id}-apply`,
        type: "submit",
        class: "pf-c-button pf-m-primary",
        disabled: !allowed || applying !== null,
        "aria-describedby": allowed ? null : "access-text",
    }, applying === path ? "Applying…" : "Apply");
    // Back to NetworkManager's default (0): the profile stops overriding it.
    const reset = profile.flags === 0 ? null : el("button", {
        id: `${id}-default`,
        type: "button",
        class: "pf-c-button pf-m-secondary",
        disabled: !allowed || applying !== null,
    }, "Use the default");
    reset?.addEventListener("click", () => applyFlags(path, 0));
    const note = profile.flags === 0
        ? el("p", { class: "pf-c-form__helper-text", id: `${id}-note` },
            "On NetworkManager's default: applying writes these flags to the profile.")
        : null;
    const failed = applyErrors.has(path)
        ? el("div", { class: "pf-c-alert pf-m-danger pf-m-inline", role: "alert",
            "data-code": "apply-failed" },
            el("p", { class: "pf-c-alert__title" }, "Not applied: ", applyErrors.get(path)))
        : null;
    const form = el("form", { class: "pf-c-form", "aria-label": `MPTCP flags of ${profile.id}` },
        el("fieldset", { class: "nm-mptcp-flags", "aria-describedby": note ? `${id}-note` : null },
            el("legend", {}, "connection.mptcp-flags"), boxes, apply, reset), note, failed);
    form.addEventListener("submit", event => {
        event.preventDefault();
        // The flags as nmcli writes them: `enabled` only when nothing else says so.
        let bits = 0;
        for (const box of form.querySelectorAll("input[data-flag]")) {
            if (box.checked)
                bits |= FLAG_BITS[box.dataset.flag];
        }
        if (bits === 0)
            bits = FLAG_BITS.enabled;
        // Keep what the form does not show (also-without-sysctl, laminar where unknown).
        bits |= start & (FLAG_BITS["also-without-sysctl"] |
            (laminar ? 0 : FLAG_BITS.laminar));
        applyFlags(path, bits);
    });
    return form;
}

/* Each profile's form as last built, and what it was built from: a live update that changes
 * none of that keeps the same nodes, so a click or key press under way is not lost. */
const forms = new Map();

function form(path, profile, effective, laminar, allowed) {
    const key = JSON.stringify([profile.id, profile.uuid, profile.flags, effective, laminar,
        allowed, applying === path, applying !== null, applyErrors.get(path) || null]);
    const built = forms.get(path);
    if (built && built.key === key)
        return built.node;
    const node = flagsForm(path, profile, effective, laminar, allowed);
    forms.set(path, { key, node });
    return node;
}

function profileCard(path, profile, s, allowed) {
    const active = s.profiles.find(p => value(p, "Uuid") === profile.uuid);
    const interfaceName = active ? value(active, "Interface") : profile.interface;
    const heading = el("h3", { class: "pf-c-title pf-m-md", id: `title-${profile.uuid}` },
        profile.id, " ",
        el("span", { class: active ? "pf-c-label pf-m-green" : "pf-c-label" },
            el("span", { class: "pf-c-label__content" },
                active ? `active on ${interfaceName}` : "not active")));
    const body = [];
    const effective = active ? value(active, "ConnectionFlags") || [] : [];
    if (active) {
        const words = effective;
        const source = SOURCES[value(active, "FlagsSource")] || value(active, "FlagsSource");
        body.push(el("p", { "data-effective": words.join(" ") },
            "Effective flags: ", el("code", {}, words.join(",")), ` (${source}); `,
            "endpoints get ", el("code", {}, (value(active, "MptcpFlags") || []).join(",")
                || "nothing")));
        body.push(addressesTable(value(active, "Addresses") || []));
        // A profile is active on one device: the endpoints there are its, whoever made them.
        const own = s.endpoints.filter(e => value(e, "Interface") === interfaceName);
        body.push(endpointsTable("Endpoints", own));
    } else {
        body.push(profile.flags !== 0
            ? el("p", {}, "Flags: ", el("code", {}, flagWords(profile.flags).join(",")),
                " (set in the profile; in effect when it is active)")
            : el("p", {}, "Flags: NetworkManager's default when it is active (NetworkManager.conf's, " +
                "else this version's: ", el("code", {},
                    value(s.nm, "Laminar") === true ? "subflow,laminar" : "subflow"), ")"));
    }
    // The loopback profile gets no MPTCP of its own, nor does one NetworkManager made for a
    // device it only watches (external): there is nothing to change through it.
    if (profile.settingsFlags & SETTINGS_FLAG_EXTERNAL)
        body.push(el("p", {}, "NetworkManager only watches this device (external): its " +
            "MPTCP flags are not changed here."));
    else if (profile.type !== "loopback")
        body.push(form(path, profile, effective, value(s.nm, "Laminar") === true, allowed));
    return el("article", {
        class: "pf-c-card nm-mptcp-card",
        "aria-labelledby": `title-${profile.uuid}`,
        "data-profile": profile.id,
        "data-active": active ? "yes" : "no",
    }, el("div", { class: "pf-c-card__title" }, heading), el("div", { class: "pf-c-card__body" }, body));
}

function render() {
    // The page is rebuilt on every change: keep where the keyboard is.
    const focused = document.activeElement && document.activeElement.id;
    const s = status();
    const allowed = admin.allowed === true;
    const main = document.getElementById("main");
    const limits = s.limits;
    const usage = s.usage;
    const summary = [
        `NetworkManager ${value(s.nm, "Version") || "?"}`,
        `net.mptcp.enabled ${value(s.sysctl, "MptcpEnabled") || "?"}`,
        `path manager ${value(s.sysctl, "PathManager") || "?"}`,
        `limits: subflows ${value(limits, "Subflows") ?? "?"} (${value(limits, "SubflowsSetting") || "?"}), ` +
            `add_addr_accepted ${value(limits, "AddAddrAccepted") ?? "?"} (${value(limits, "AddAddrAcceptedSetting") || "?"})`,
    ];
    // The summary is a live region: it changes (and is read out) only when its text does;
    // the usage, which moves each second, is apart from it.
    const text = !serviceKnown ? "Reading nm-mptcp's status…"
        : !manager.valid
            ? "nm-mptcp's D-Bus service does not answer: is the nm-mptcp package installed?"
            : nmProblem || summary.join(" · ");
    const summaryNode = document.getElementById("summary");
    if (summaryNode.textContent !== text)
        summaryNode.textContent = text;
    document.getElementById("usage").textContent = value(usage, "Known")
        ? `MPTCP now: ${value(usage, "Connections")} connection(s), ${value(usage, "Subflows")} subflow(s)`
        : "";

    const access = document.getElementById("access");
    access.classList.toggle("nm-mptcp-hidden", allowed);
    document.getElementById("access-text").textContent = allowed
        ? ""
        : "Read only: changing a profile's MPTCP flags needs administrative access " +
          "(turn it on in Cockpit's top bar).";

    const warnings = document.getElementById("warnings");
    warnings.replaceChildren(...(s.warnings.length
        ? s.warnings.map(w => el("li", { "data-code": value(w, "Code") },
            el("strong", {}, value(w, "Code")), ": ", value(w, "Message")))
        : [el("li", {}, "None.")]));

    const sorted = [...profiles.entries()].sort(([, a], [, b]) => a.id.localeCompare(b.id));
    for (const path of forms.keys()) {
        if (!profiles.has(path))
            forms.delete(path);
    }
    document.getElementById("profiles").replaceChildren(
        ...sorted.map(([path, profile]) => profileCard(path, profile, s, allowed)));

    const used = new Set(s.profiles.map(p => value(p, "Interface")));
    const others = s.endpoints.filter(e => !used.has(value(e, "Interface")));
    document.getElementById("others").replaceChildren(others.length
        ? endpointsTable("Endpoints of no profile (others' and unplanned)", others)
        : el("p", {}, "None."));
    main.setAttribute("aria-busy", "false");
    document.body.dataset.ready = "yes";
    if (focused)
        document.getElementById(focused)?.focus();
}

/* Update the saved profile with these flags, then reapply them on its active devices. */
async function applyFlags(path, bits) {
    applying = path;
    applyErrors.delete(path);
    render();
    try {
        const [settings] = await nm.call(path, CONNECTION, "GetSettings", []);
        // Update replaces the whole profile: its secrets go back with it, or nothing is sent.
        for (const name of Object.keys(settings).filter(n => SECRET_SETTINGS.includes(n))) {
            const [secrets] = await nm.call(path, CONNECTION, "GetSecrets", [name]);
            mergeSecrets(settings[name], secrets[name] || {});
        }
        settings.connection["mptcp-flags"] = cockpit.variant("u", bits);
        // What is not on disk (in memory only, or changed with nmcli --temporary) stays so:
        // the page writes nothing to disk that the administrator had not saved; a volatile
        // profile stays volatile (gone when it goes down).
        const kept = await property(path, CONNECTION, "Flags");
        const where = kept & SETTINGS_FLAG_VOLATILE ? UPDATE_IN_MEMORY | UPDATE_VOLATILE
            : kept & SETTINGS_FLAG_UNSAVED ? UPDATE_IN_MEMORY : UPDATE_TO_DISK;
        await nm.call(path, CONNECTION, "Update2", [settings, where, {}],
            { type: "a{sa{sv}}ua{sv}" });
        // The applied connection with only the flags replaced, keeping what others added to
        // the device: a plain Reapply would bring in the profile's other saved edits and drop
        // runtime changes. Only where this profile is the one applied (a VPN's device has
        // its own).
        const uuid = unwrap(settings.connection.uuid);
        for (const device of await activeDevices(path)) {
            const [applied, version] = await nm.call(device, NM + ".Device",
                "GetAppliedConnection", [0], { type: "u" });
            if (unwrap(applied.connection.uuid) !== uuid)
                continue;
            applied.connection["mptcp-flags"] = cockpit.variant("u", bits);
            await nm.call(device, NM + ".Device", "Reapply",
                [applied, version, REAPPLY_PRESERVE_EXTERNAL_IP], { type: "a{sa{sv}}tu" });
        }
        pending.delete(path);
    } catch (e) {
        // Kept until the next apply (the edit too, untouched): live updates wipe neither.
        applyErrors.set(path, String(e.message || e));
    } finally {
        // The profile as it is now before the controls come back.
        await readProfile(path);
        applying = null;
        render();
    }
}

/* NMSettingsUpdate2Flags, NMSettingsConnectionFlags, NMDeviceReapplyFlags. */
const UPDATE_TO_DISK = 0x1;
const UPDATE_IN_MEMORY = 0x2;
const UPDATE_VOLATILE = 0x10;
const SETTINGS_FLAG_UNSAVED = 0x1;
const SETTINGS_FLAG_VOLATILE = 0x4;
const SETTINGS_FLAG_EXTERNAL = 0x8;
const REAPPLY_PRESERVE_EXTERNAL_IP = 0x1;

/* A setting's secrets into it; WireGuard's peers by public key (GetSecrets gives each peer
 * only its keys, and a plain assignment would drop its endpoint and allowed-ips). */
function mergeSecrets(setting, secrets) {
    for (const [key, secret] of Object.entries(secrets)) {
        if (key === "peers" && setting.peers) {
            const peers = unwrap(setting.peers);
            for (const withKey of unwrap(secret)) {
                const peer = peers.find(p => unwrap(p["public-key"]) === unwrap(withKey["public-key"]));
                if (peer)
                    Object.assign(peer, withKey);
            }
        } else {
            setting[key] = secret;
        }
    }
}

async function property(path, iface, name) {
    const [v] = await nm.call(path, "org.freedesktop.DBus.Properties", "Get", [iface, name]);
    return unwrap(v);
}

async function activeDevices(settingsPath) {
    const devices = [];
    for (const active of await property(NM_PATH, NM, "ActiveConnections")) {
        const iface = NM + ".Connection.Active";
        if (await property(active, iface, "Connection") === settingsPath)
            devices.push(...await property(active, iface, "Devices"));
    }
    return devices;
}

function watch() {
    manager.call("Watch", []).catch(() => { /* an older daemon: no usage updates */ });
}

/* The service came (back) on the bus: its Watch lease is new to it. */
function serviceChanged() {
    if (manager.valid && !serviceUp)
        watch();
    serviceUp = manager.valid;
    render();
}

function start() {
    manager.addEventListener("changed", serviceChanged);
    admin.addEventListener("changed", render);
    nm.subscribe({ interface: CONNECTION, member: "Updated" }, path =>
        readProfile(path).then(render));
    nm.subscribe({ interface: SETTINGS, member: "NewConnection" }, () => readProfiles());
    nm.subscribe({ interface: SETTINGS, member: "ConnectionRemoved" }, () => readProfiles());
    manager.wait(() => {
        serviceKnown = true;
        serviceChanged();
        readProfiles();
    });
    window.setInterval(() => manager.valid && watch(), WATCH_EVERY_MS);
}

document.addEventListener("DOMContentLoaded", start);
