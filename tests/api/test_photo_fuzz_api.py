"""Mutated photo bytes uploaded through the API: a 2xx with the photo stored, or a 4xx leaving no file; never 5xx."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import files_under, inspection_payload, photo_decl, put_photo, submit
from unit.test_photo_fuzz import SEEDS, mutated

API_FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_mutated_uploads_never_fail_the_server(app, client, field):
    store = os.path.join(app.config["PHOTO_ROOT"], "store")
    tmp = os.path.join(app.config["PHOTO_ROOT"], "tmp")

    @API_FUZZ
    @given(st.sampled_from(sorted(SEEDS)).flatmap(lambda kind: mutated(SEEDS[kind])))
    def upload(data):
        declared = photo_decl(data)
        submit(client, field.headers, inspection_payload(field.subject, photos=[declared]))
        before = files_under(store)
        response = put_photo(client, field.headers, declared["id"], data)
        assert response.status_code < 500, response.get_json()
        assert files_under(tmp) == []
        if response.status_code >= 400:
            assert response.headers["Content-Type"] == "application/problem+json"
            assert files_under(store) == before
        else:
            assert client.get(f"/api/v1/photos/{declared['id']}", headers=field.headers).data == data

    upload()
