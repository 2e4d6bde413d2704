#!/usr/bin/env python3
"""Drive nm-mptcp's Cockpit page in headless Chromium (Debian's chromium and
chromium-driver, through python3-selenium), against a lab's cockpit-ws, NetworkManager and
system bus. Run in the lab's network namespace: the browser talks only to 127.0.0.1.

  cockpit_page.py LAB ADMIN_URL USER_URL SCREENSHOT REST_SECONDS laminar|no-laminar

Checks, failing with a message:
  - the seed's three profiles and their endpoints appear as `ip mptcp endpoint show` has them;
  - the laminar flag is offered exactly where NetworkManager has it;
  - `nmcli connection down` on one link changes its card within 1 s;
  - the admin session turns on `backup` for p1: the kernel endpoint gets the flag and
    `nmcli -g connection.mptcp-flags connection show p1` shows it, and so does its file;
  - the same for p0, which has a change not saved to disk (nmcli --temporary): its file is
    left alone, and the device's applied connection gets the flags and not that change; a
    route someone added to p1's device outside NetworkManager stays;
  - "Use the default" puts p0 back on NetworkManager's default, and its form shows it;
  - a change NetworkManager refuses is shown in its card, and stays there across updates;
  - a profile on NetworkManager's default starts from that default, not from nothing;
  - the non-admin session is read only (controls disabled, the reason shown), and
    NetworkManager refuses its Update when called anyway;
  - no console error in either session.
Prints one JSON line of figures.
"""
import json
import os
import re
import subprocess
import tempfile
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

LAB_SCRIPT = Path(__file__).resolve().parent / "lab.sh"


def in_lab(name, script, how="exec"):
    """The lab's own programs (`exec`), or the host's on the lab's bus (`host`)."""
    out = subprocess.run(["bash", str(LAB_SCRIPT), how, name, "bash", "-ec", script],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"in lab ({how}): {script}\n{out.stderr}")
    return out.stdout


def keyfile_flags(name, profile):
    """connection.mptcp-flags as the profile's file on disk has it (0 when absent)."""
    text = in_lab(name, f"grep -l -x 'id={profile}' /etc/NetworkManager/system-connections/* "
                        "| head -n1 | xargs grep -h '^mptcp-flags=' || true").strip()
    return int(text.split("=", 1)[1], 0) if text else 0


def has_backup(nmcli_flags):
    """nmcli 1.42 prints the number in its terse mode (0x78), later ones the names."""
    return "backup" in nmcli_flags or (nmcli_flags.startswith("0x") and int(nmcli_flags, 16) & 0x40)


def press(driver, profile, selector, keys):
    """Send keys to an element of a profile's card, looking again if an update replaced it."""
    def act():
        card(driver, profile).find_element(By.CSS_SELECTOR, selector).send_keys(keys)
        return True
    wait(f"{selector} in {profile}'s card", act)


def turn_on_backup(driver, lab, profile, address):
    """Tick backup in a profile's card and apply, with the keyboard alone (space, then Enter,
    as a user without a mouse would); wait for the kernel endpoint's flag and return the
    profile's flags as nmcli shows them."""
    press(driver, profile, 'input[data-flag="backup"]', " ")
    press(driver, profile, "button[type=submit]", Keys.ENTER)
    wait(f"{profile}'s backup in the kernel",
         lambda: "backup" in kernel_endpoints(lab).get(address, ("", []))[1])
    saved = in_lab(lab, f"nmcli -g connection.mptcp-flags connection show {profile}").strip()
    if not has_backup(saved):
        sys.exit(f"nmcli shows {profile}'s flags as {saved!r}")
    return saved


def bus_messages(monitor):
    """`busctl monitor` output as one text per message (each starts with its Type= line)."""
    return re.split(r"(?m)^(?=\S* ?Type=)", monitor)


def kernel_endpoints(name):
    """{address: (device, flags)} from `ip mptcp endpoint show`."""
    found = {}
    for line in in_lab(name, "ip mptcp endpoint show").splitlines():
        words = line.split()
        if not words:
            continue
        dev = words[words.index("dev") + 1] if "dev" in words else ""
        flags = [w for w in words if w in ("signal", "subflow", "backup", "fullmesh")]
        found[words[0]] = (dev, sorted(flags))
    return found


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2300",
                     "--no-first-run", "--disable-background-networking", "--disable-sync",
                     "--disable-component-update", "--disable-default-apps",
                     "--disable-features=Translate,OptimizationHints,MediaRouter",
                     "--metrics-recording-only", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(what, check, timeout=15.0, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # the DOM is being replaced under us: look again
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}{seen()}")
        time.sleep(step)


DRIVER = None


def seen():
    """What the page showed and logged, for a failure's message."""
    if DRIVER is None:
        return ""
    try:
        text = DRIVER.find_element(By.TAG_NAME, "body").text
        logs = DRIVER.get_log("browser")
    except Exception as e:  # the browser is gone
        return f"\n(no page: {e})"
    return f"\n--- the page:\n{text}\n--- its console:\n{logs}"


def card(driver, profile):
    return driver.find_element(By.CSS_SELECTOR, f'article[data-profile="{profile}"]')


def page_endpoints(driver):
    """{address: (device, flags)} from the page's endpoint rows."""
    found = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-endpoint]"):
        flags = row.get_attribute("data-flags").split()
        found[row.get_attribute("data-endpoint")] = (row.get_attribute("data-interface"),
                                                     sorted(flags))
    return found


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def main(lab, admin_url, user_url, screenshot, rest, laminar):
    global DRIVER
    figures = {}
    driver = DRIVER = browser()
    try:
        driver.get(admin_url)
        wait("the page", lambda: driver.find_element(By.CSS_SELECTOR, "body[data-ready=yes]"))
        for profile in ("p0", "p1", "p2"):
            wait(f"{profile} active", lambda: card(driver, profile).get_attribute("data-active") == "yes")
        expected = kernel_endpoints(lab)
        wait(f"the endpoints {expected} (the page: {page_endpoints(driver)})",
             lambda: page_endpoints(driver) == expected)
        figures["endpoints"] = len(expected)
        offered = bool(card(driver, "p0").find_elements(By.CSS_SELECTOR, 'input[data-flag="laminar"]'))
        if offered != (laminar == "laminar"):
            sys.exit(f"laminar offered: {offered}, expected: {laminar}")
        driver.save_screenshot(screenshot)

        # A link going down shows within a second.
        in_lab(lab, "nmcli connection down p2 >/dev/null")
        down = time.monotonic()
        wait("p2 shown down", lambda: card(driver, "p2").get_attribute("data-active") == "no",
             timeout=1.0)
        figures["down_shown_ms"] = round((time.monotonic() - down) * 1000)
        expected = kernel_endpoints(lab)
        wait(f"the endpoints {expected} after the down", lambda: page_endpoints(driver) == expected)

        # An admin turns on backup for p1, through NetworkManager's Update2 and Reapply.
        box = card(driver, "p1").find_element(By.CSS_SELECTOR, 'input[data-flag="backup"]')
        if box.get_attribute("disabled") is not None:
            sys.exit("the admin session's controls are disabled")
        # A route of someone else's on p1's device: the page's reapply keeps it.
        in_lab(lab, "ip route add 203.0.113.0/24 dev enp4s0f1")
        figures["saved_flags"] = turn_on_backup(driver, lab, "p1", "198.51.100.2")
        if not keyfile_flags(lab, "p1") & 0x40:
            sys.exit("p1's file on disk has no backup")
        if "203.0.113.0/24" not in in_lab(lab, "ip route show dev enp4s0f1"):
            sys.exit("the page's reapply removed a route NetworkManager did not add")
        wait("backup on the page", lambda: "backup" in page_endpoints(driver).get("198.51.100.2", ("", []))[1])

        # p0 with a change that is not on disk: the page leaves the disk alone, and reapplies
        # the flags alone (not that change).
        on_disk = keyfile_flags(lab, "p0")
        in_lab(lab, "nmcli connection modify --temporary p0 ipv4.dns 192.0.2.53")
        time.sleep(0.5)  # the page re-reads p0 on NetworkManager's Updated signal
        turn_on_backup(driver, lab, "p0", "192.0.2.2")
        if keyfile_flags(lab, "p0") != on_disk:
            sys.exit(f"p0's file changed: {keyfile_flags(lab, 'p0'):#x}, was {on_disk:#x}")
        dns = in_lab(lab, "nmcli -g IP4.DNS device show enp4s0f0").strip()
        if "192.0.2.53" in dns:
            sys.exit(f"the page's reapply brought in the profile's other change (DNS {dns})")
        figures["unsaved_kept"] = True

        # "Use the default" on p0: the profile's flags go back to 0, the endpoint gets the
        # default's flags, and the form starts from them.
        expected_default = {"subflow", "laminar"} if laminar == "laminar" else {"subflow"}
        checked = lambda profile: {b.get_attribute("data-flag") for b in card(driver, profile)
                                   .find_elements(By.CSS_SELECTOR, "input[data-flag]") if b.is_selected()}
        press(driver, "p0", "button[id$=-default]", Keys.ENTER)
        wait("p0 on the default in the kernel",
             lambda: kernel_endpoints(lab).get("192.0.2.2", ("", []))[1] == ["subflow"])
        wait(f"p0's form on the default {expected_default}", lambda: checked("p0") == expected_default)
        if in_lab(lab, "nmcli -g connection.mptcp-flags connection show p0").strip() not in ("0x0", "default", "0"):
            sys.exit("p0 is not on the default")

        # p2 back on NetworkManager's default: the form starts from it (subflow), not empty.
        in_lab(lab, "nmcli connection modify p2 connection.mptcp-flags 0")
        wait(f"p2's form on the default {expected_default}", lambda: checked("p2") == expected_default)

        # A refusal stays in its card: p2 (down) with flags NetworkManager rejects.
        driver.execute_script("""
            for (const [path, p] of profiles)
                if (p.id === "p2") applyFlags(path, 0x21);  // disabled with subflow
        """)
        wait("the refusal in p2's card", lambda: card(driver, "p2").find_elements(
            By.CSS_SELECTOR, '[data-code="apply-failed"][role="alert"]'))
        driver.execute_script("render()")
        if not card(driver, "p2").find_elements(By.CSS_SELECTOR, '[data-code="apply-failed"]'):
            sys.exit("the refusal went away with the next update")
        figures["refusal"] = card(driver, "p2").find_element(
            By.CSS_SELECTOR, '[data-code="apply-failed"]').text
        errors = console_errors(driver)
        if errors:
            sys.exit(f"console errors (admin): {errors}")


        # The page at rest: what it asks of the daemon while it stays open (after the daemon
        # has settled from the change above), and the signals it is sent.
        rest = int(rest)
        if rest:
            time.sleep(2)
            monitor = in_lab(lab, f"timeout {rest} busctl --system monitor io.github.nm_mptcp1 "
                                  "2>&1 || true", how="host")
            state = os.environ.get("LAB_ROOT", "/tmp/nm-mptcp-lab")
            Path(f"{state}/{lab}/rest-monitor.txt").write_text(monitor)
            messages = bus_messages(monitor)
            figures["rest_seconds"] = rest
            figures["rest_method_calls"] = sum(
                "Type=method_call" in m and "Destination=io.github.nm_mptcp1" in m for m in messages)
            figures["rest_signals"] = sum("Type=signal" in m for m in messages)

        # A session without administrative access: read only, and NetworkManager says no.
        driver.get(user_url)
        wait("the page (user)", lambda: driver.find_element(By.CSS_SELECTOR, "body[data-ready=yes]"))
        wait("p1 (user)", lambda: card(driver, "p1").get_attribute("data-active") == "yes")
        access = driver.find_element(By.ID, "access-text").text
        if "administrative access" not in access:
            sys.exit(f"the read-only reason is missing: {access!r}")
        boxes = driver.find_elements(By.CSS_SELECTOR, "input[data-flag]")
        if not boxes or any(b.get_attribute("disabled") is None for b in boxes):
            sys.exit("a non-admin session has enabled controls")
        refused = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const nm = cockpit.dbus("org.freedesktop.NetworkManager", { bus: "system" });
            nm.call("/org/freedesktop/NetworkManager/Settings", "org.freedesktop.NetworkManager.Settings",
                    "ListConnections", [])
              .then(([paths]) => nm.call(paths[0], "org.freedesktop.NetworkManager.Settings.Connection",
                                         "Update", [{}], { type: "a{sa{sv}}" }))
              .then(() => done("accepted"), e => done("refused: " + (e.name || e.message)));
        """)
        if not refused.startswith("refused"):
            sys.exit(f"NetworkManager let a non-admin session update a profile: {refused}")
        figures["user_update"] = refused
        # The refusal was asked for; anything else in the console is an error of the page.
        errors = [e for e in console_errors(driver) if "PermissionDenied" not in e["message"]
                  and "not authorized" not in e["message"].lower()]
        if errors:
            sys.exit(f"console errors (user): {errors}")
    finally:
        driver.quit()
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:7])
