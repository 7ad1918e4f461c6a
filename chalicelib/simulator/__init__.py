"""An embedded WhatsApp Cloud API simulator for local runs and tests (`server.GraphApiSimulator`).

Standard library plus `requests` only; never imported by the deployed Lambda code.
"""
