"""Discord adapter: a discord.py client that turns forum posts and support-channel
messages into conversations, mirrors them into a private triage channel with
persistent buttons, and answers ``/support`` commands.

Named ``discord_bot`` (not ``discord``) so it never shadows the discord.py package.
"""
