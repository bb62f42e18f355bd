"""Storage: Firestore documents (`firestore`, the one module that names collections and fields), the
uploads bucket (`uploads`), webhook events
on their topic (`notices`), and the protocols the bulk stages are written against (`protocols`).

Storage stands on `shared.platform` and the plain records of `shared.records`, nothing else of ours.
"""
