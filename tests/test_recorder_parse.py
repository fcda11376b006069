"""Recorder channel parsers on bytes: Hikvision ISAPI InputProxy, Dahua RemoteDevice, ONVIF GetVideoSources.

Fixtures written for these tests, modelled on public examples of the replies (field names and layout of
InputProxyChannelList/StatusList as Hikvision NVRs send them, the flat table.RemoteDevice.uuid:System_CONFIG_
NETCAMERA_INFO_<N> lines of Dahua NVRs, ONVIF Media 1.0 GetVideoSourcesResponse); addresses, serials and the
passwords are invented. Every password, key or token field must be gone at parse time."""

from __future__ import annotations

import pytest

from camscan.recorders.parse import (
    MAX_CHANNELS,
    merge_isapi,
    parse_dahua_remote_devices,
    parse_isapi_channels,
    parse_onvif_video_sources,
)

SECRET = "Zq7-recorder-s3cret-VALUE"

ISAPI_CHANNELS = f"""<?xml version="1.0" encoding="UTF-8"?>
<InputProxyChannelList version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<InputProxyChannel version="2.0">
<id>1</id>
<name>Lobby</name>
<sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol>
<addressingFormatType>ipaddress</addressingFormatType>
<ipAddress>192.168.254.2</ipAddress>
<managePortNo>8000</managePortNo>
<srcInputPort>1</srcInputPort>
<userName>admin</userName>
<password>{SECRET}</password>
<streamType>auto</streamType>
</sourceInputPortDescriptor>
<enableAnr>false</enableAnr>
</InputProxyChannel>
<InputProxyChannel version="2.0">
<id>2</id>
<name>Dock</name>
<sourceInputPortDescriptor>
<proxyProtocol>ONVIF</proxyProtocol>
<ipAddress>192.168.254.3</ipAddress>
<userName>admin</userName>
<passwd>{SECRET}</passwd>
<secretKey>{SECRET}</secretKey>
</sourceInputPortDescriptor>
</InputProxyChannel>
</InputProxyChannelList>
""".encode()

ISAPI_STATUS = b"""<?xml version="1.0" encoding="UTF-8"?>
<InputProxyChannelStatusList version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<InputProxyChannelStatus version="2.0">
<id>1</id>
<sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol>
<ipAddress>192.168.254.2</ipAddress>
<model>DS-2CD2032F-I</model>
<serialNumber>DS-2CD2032F-I20160101CCWR123456789</serialNumber>
<firmwareVersion>V5.3.0 build 150513</firmwareVersion>
<macAddress>c0:56:e3:aa:bb:01</macAddress>
</sourceInputPortDescriptor>
<online>true</online>
<chanDetectResult>connect</chanDetectResult>
</InputProxyChannelStatus>
<InputProxyChannelStatus version="2.0">
<id>2</id>
<sourceInputPortDescriptor>
<proxyProtocol>ONVIF</proxyProtocol>
<ipAddress>192.168.254.3</ipAddress>
</sourceInputPortDescriptor>
<online>false</online>
</InputProxyChannelStatus>
</InputProxyChannelStatusList>
"""

DAHUA = f"""table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=192.168.1.108\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.DeviceType=IPC-HDW3849H-AS-PV\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Enable=true\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Mac=3c:ef:8c:11:22:33\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Name=Yard\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password={SECRET}\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Port=37777\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.ProtocolType=Private\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.SerialNo=7J0A1B2CPAZ0001\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.UserName=admin\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Vendor=Private\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Version=2.800.0000000.8.R, Build Date: 2020-04-30\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.VideoInputs[0].Password={SECRET}\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.VideoInputs[0].MainStreamUrl=rtsp://admin:{SECRET}@192.168.1.108/\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Address=192.168.1.109\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.DeviceType=IP Camera\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Enable=true\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.ProtocolType=Onvif\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Vendor=Onvif\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Password={SECRET}\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Address=192.168.0.0\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Enable=false\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_10.Address=192.168.1.120\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_10.DeviceType=DS-2CD2385G1-I\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_10.Enable=true\r
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_10.ProtocolType=Onvif\r
""".encode()

ONVIF_MEDIA = b"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><trt:GetVideoSourcesResponse>
<trt:VideoSources token="VideoSource_1"><tt:Framerate>25</tt:Framerate>
<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>
<trt:VideoSources token="VideoSource_2"><tt:Framerate>25</tt:Framerate>
<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>
</trt:GetVideoSourcesResponse></s:Body></s:Envelope>"""

ONVIF_DEVICEIO = b"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tmd="http://www.onvif.org/ver10/deviceIO/wsdl">
<s:Body><tmd:GetVideoSourcesResponse><tmd:Token>VS1</tmd:Token><tmd:Token>VS2</tmd:Token><tmd:Token>VS3</tmd:Token>
</tmd:GetVideoSourcesResponse></s:Body></s:Envelope>"""


def test_isapi_channels_and_status_merge():
    channels = parse_isapi_channels(ISAPI_CHANNELS)
    status = parse_isapi_channels(ISAPI_STATUS)
    assert [c.channel for c in channels] == ["1", "2"]
    merged = merge_isapi(channels, status)
    one, two = merged
    assert (one.address, one.protocol, one.model, one.firmware, one.online) == (
        "192.168.254.2", "HIKVISION", "DS-2CD2032F-I", "V5.3.0 build 150513", True)
    assert one.serial == "DS-2CD2032F-I20160101CCWR123456789" and one.mac == "c0:56:e3:aa:bb:01"
    assert one.name == "Lobby" and one.source == "isapi"
    assert (two.address, two.protocol, two.model, two.online) == ("192.168.254.3", "ONVIF", None, False)


def test_isapi_password_fields_are_dropped_at_parse_time():
    for c in parse_isapi_channels(ISAPI_CHANNELS):
        assert SECRET not in repr(c)


def test_isapi_refuses_other_documents_and_unsafe_xml():
    assert parse_isapi_channels(b"<DeviceInfo><model>x</model></DeviceInfo>") is None
    assert parse_isapi_channels(b"not xml") is None
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><InputProxyChannelList>&e;</InputProxyChannelList>'
    assert parse_isapi_channels(bomb) is None
    assert parse_isapi_channels(b"<InputProxyChannelList/>") == []


def test_isapi_channel_cap_and_value_cap():
    body = b"<InputProxyChannelList>" + b"".join(
        b"<InputProxyChannel><id>%d</id><name>%s</name></InputProxyChannel>" % (i, b"n" * 300)
        for i in range(MAX_CHANNELS + 50)) + b"</InputProxyChannelList>"
    got = parse_isapi_channels(body)
    assert got is not None and len(got) == MAX_CHANNELS and all(len(c.name or "") <= 128 for c in got)


def test_dahua_remote_devices():
    got = parse_dahua_remote_devices(DAHUA)
    assert [c.channel for c in got] == ["1", "2", "11"]  # slot 2 disabled, slot 10 -> channel 11
    yard, onvif, hik = got
    assert (yard.address, yard.model, yard.protocol, yard.serial, yard.mac) == (
        "192.168.1.108", "IPC-HDW3849H-AS-PV", "Private", "7J0A1B2CPAZ0001", "3c:ef:8c:11:22:33")
    assert yard.firmware == "2.800.0000000.8.R, Build Date: 2020-04-30" and yard.vendor is None  # "Private"
    assert onvif.model is None and onvif.protocol == "Onvif"  # "IP Camera" names no model
    assert hik.model == "DS-2CD2385G1-I" and hik.source == "dahua.RemoteDevice"


def test_dahua_password_fields_are_dropped_at_parse_time():
    for c in parse_dahua_remote_devices(DAHUA):
        assert SECRET not in repr(c)


@pytest.mark.parametrize("body", [b"", b"Error\r\nBad Request!\r\n", b"<html>login</html>", b"\xff\xfe\x00"])
def test_dahua_not_a_remote_device_table(body):
    assert parse_dahua_remote_devices(body) is None


def test_dahua_hostile_lines_are_ignored():
    body = (b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=10.0.0.5\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.DeviceType=\x1b[31mIPC-HFW5442E\x07\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_99999.Address=10.0.0.6\n"
            b"garbage without equals\n=\n")
    (c,) = parse_dahua_remote_devices(body)
    assert c.address == "10.0.0.5" and "\x1b" not in (c.model or "") and "\x07" not in (c.model or "")


def test_onvif_video_sources_media_and_deviceio():
    assert [c.channel for c in parse_onvif_video_sources(ONVIF_MEDIA)] == ["VideoSource_1", "VideoSource_2"]
    got = parse_onvif_video_sources(ONVIF_DEVICEIO, "onvif.deviceio")
    assert [c.channel for c in got] == ["VS1", "VS2", "VS3"] and got[0].source == "onvif.deviceio"
    assert parse_onvif_video_sources(b"<a/>") is None
