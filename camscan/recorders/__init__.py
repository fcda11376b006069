"""Cameras behind recorders: the channel lists a recorder gives to an authenticated read-only request
(:mod:`camscan.recorders.parse`) and the device rows camscan makes of them (:mod:`camscan.recorders.collect`)."""
