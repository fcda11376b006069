"""The diff of cameras behind recorders: a camera is ``gone`` only when its recorder's camera list was read
again and no longer names it (or the recorder itself is gone), never because this scan could not ask the
recorder (no credentials, refused, timed out): a CMDB import retires what the CSV calls gone."""

from __future__ import annotations

from camscan import serialize
from camscan.models import ChangeKind, Device, Skip, Verdict, Via
from camscan.store import diff

NVR_IP, NVR_KEY = "198.51.100.30", "mac:58:50:ed:33:64:1e"


def device(ip: str, mac: str | None, via: Via | None = None, model: str = "DS-2CD2032F-I") -> Device:
    return Device(ip=ip, mac=mac, manufacturer="Hikvision", brand=None, model=model, firmware=None, serial=None,
                  hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("recorder",) if via else ("arp",),
                  evidence=(), verdict=Verdict.SANCTIONED, device_class="camera" if via else "recorder", via=via)


def camera(channel: str, mac: str) -> Device:
    address = f"192.168.254.{int(channel) + 1}"
    return device(address, mac, Via(NVR_IP, NVR_KEY, channel, address, "HIKVISION", "isapi"))


RECORDER = device(NVR_IP, NVR_KEY.removeprefix("mac:"))
CAMERAS = (camera("1", "c0:56:e3:54:00:02"), camera("2", "c0:56:e3:54:00:03"))
PREVIOUS = {d.key: serialize.to_dict(d) for d in (RECORDER, *CAMERAS)}


def kinds(changes) -> dict[str, str]:
    return {c.key: str(c.kind) for c in changes.changes}


def test_a_recorder_not_asked_this_time_does_not_retire_its_cameras():
    for reason in ("a recorder: the cameras behind it were not listed, as its camera list needs credentials and "
                   "none were given (CAMSCAN_USERNAME/CAMSCAN_PASSWORD or --config)",
                   "camera list not read: bad credentials", "scan deadline reached before the recorder answered"):
        got = diff(PREVIOUS, [RECORDER], targets=["198.51.100.0/24"], skips=[Skip(NVR_IP, "recorder", reason)])
        assert kinds(got) == {}, reason


def test_a_camera_the_recorder_no_longer_lists_is_gone():
    got = diff(PREVIOUS, [RECORDER, CAMERAS[0]], targets=["198.51.100.0/24"])
    assert kinds(got) == {CAMERAS[1].key: ChangeKind.GONE}
    gone = got.changes[0]
    assert gone.device.endswith(f"behind recorder {NVR_IP} channel 2")


def test_a_camera_swapped_behind_a_recorder_is_new_and_gone():
    swapped = camera("2", "c0:56:e3:54:00:09")
    got = diff(PREVIOUS, [RECORDER, CAMERAS[0], swapped], targets=["198.51.100.0/24"])
    assert kinds(got) == {swapped.key: ChangeKind.NEW, CAMERAS[1].key: ChangeKind.GONE}


def test_cameras_go_with_their_recorder_only_when_the_recorder_was_looked_for():
    gone = diff(PREVIOUS, [], targets=["198.51.100.0/24"])
    assert kinds(gone) == {d.key: ChangeKind.GONE for d in (RECORDER, *CAMERAS)}
    narrower = diff(PREVIOUS, [], targets=["203.0.113.0/24"])  # the recorder's subnet was not scanned
    assert kinds(narrower) == {}


def test_another_recorders_skip_does_not_hide_this_recorders_changes():
    got = diff(PREVIOUS, [RECORDER, CAMERAS[0]], targets=["198.51.100.0/24"],
               skips=[Skip("198.51.100.31", "recorder", "camera list not read: bad credentials"),
                      Skip(NVR_IP, "http", "http:443/: the device closed the connection without a reply")])
    assert kinds(got) == {CAMERAS[1].key: ChangeKind.GONE}


def test_a_slot_keyed_by_its_channel_that_now_names_another_model_is_a_model_change():
    """No MAC or serial reported: the row is keyed via:<recorder>/<channel>, so a swapped camera keeps the key;
    the model the recorder now reports for the slot says it is another camera."""
    def slot(model: str | None) -> Device:
        return device("192.168.254.4", None, Via(NVR_IP, NVR_KEY, "3", "192.168.254.4", "ONVIF", "isapi"), model)

    before = {d.key: serialize.to_dict(d) for d in (RECORDER, slot("M3106-L Mk II"))}
    assert slot("x").key == f"via:{NVR_KEY}/3"
    got = diff(before, [RECORDER, slot("P3245-LV")], targets=["198.51.100.0/24"])
    (change,) = got.changes
    assert (change.kind, change.before, change.after) == (ChangeKind.MODEL, "M3106-L Mk II", "P3245-LV")
    assert change.device.endswith(f"behind recorder {NVR_IP} channel 3")
    assert kinds(diff(before, [RECORDER, slot(None)], targets=["198.51.100.0/24"])) == {}  # model not reported
    lan = {RECORDER.key: serialize.to_dict(RECORDER)}  # a LAN device's model string is not compared
    assert kinds(diff(lan, [device(NVR_IP, RECORDER.mac, model="DS-7608NI-K2")], targets=["198.51.100.0/24"])) == {}
