from PyQt6.sip import *  # noqa: F403
