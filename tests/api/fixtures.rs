//! Senders' own documented payloads are accepted as they are.

use crate::helpers::*;

#[test]
fn pagertree_documentation_examples_are_accepted_as_they_are() {
    let app = spawn_app();
    for (file, outcome) in [
        ("pagertree/create_minimal.json", "created"),
        ("pagertree/create_with_tags_and_meta.json", "deduplicated"),
    ] {
        let response = app.post_hook("default", &[("pagertree-token", TOKEN)], fixture(file));
        assert_eq!(response.status(), 202, "{file}");
        let body = json(response);
        assert_eq!(body["results"][0]["id"], "example-id-123", "{file}");
        assert_eq!(body["results"][0]["outcome"], outcome, "{file}");
    }
    let alert = app.alert("default", "example-id-123").unwrap();
    assert_eq!(alert.tags, ["a", "b", "c"]);
    assert_eq!(alert.meta.unwrap()["incident_severity"], "SEV-1");
    assert_eq!(
        alert.description.as_deref(),
        Some("Example Incident Description")
    );
}
