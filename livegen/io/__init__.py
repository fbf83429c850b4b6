"""Ports and sockets: mido/rtmidi MIDI ports, JACK helper, OSC server/client, memory ports."""
