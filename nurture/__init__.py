"""Pure domain: lead states, the cadence, planning decisions and product matching.

Nothing in this package reads the clock, the database or the network: callers
pass a lead snapshot and ``now`` and get decisions back.
"""
