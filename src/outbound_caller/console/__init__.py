"""The practice's web console (``outbound-caller console``): server-rendered pages over the
same library the command line uses, behind a log-in."""
