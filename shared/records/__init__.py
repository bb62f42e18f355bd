"""Plain records: what Coatro keeps in Firestore, as pydantic models with no behaviour.

They sit under storage (`shared.storage`) and the domain packages; they import nothing of ours.
"""
