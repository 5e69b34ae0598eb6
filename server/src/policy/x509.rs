//! Kyverno's `x509_decode`: a PEM certificate or certificate request as the JSON that Go's
//! `encoding/json` makes of `x509.Certificate` / `x509.CertificateRequest` (field names as in
//! Go; RSA public keys as `{N, E}`; big integers as JSON numbers read back as floats, as
//! Kyverno's round trip through `interface{}` does, except the RSA modulus, which no float
//! holds and is given as a decimal string). Raw DER fields are left out.

use serde_json::{Map, Value as Json, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Go's `pkix.Name`.
fn name(n: &X509Name) -> Json {
    let list = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        let v: Vec<Json> = it
            .filter_map(|a| a.as_str().ok())
            .map(|s| json!(s))
            .collect();
        if v.is_empty() {
            Json::Null
        } else {
            Json::Array(v)
        }
    };
    let names: Vec<Json> = n
        .iter_attributes()
        .map(|a| {
            let oid: Vec<u64> = a
                .attr_type()
                .iter()
                .map(|i| i.collect())
                .unwrap_or_default();
            json!({"Type": oid, "Value": a.as_str().unwrap_or_default()})
        })
        .collect();
    let street = x509_parser::oid_registry::Oid::from(&[2, 5, 4, 9]).ok();
    let postal = x509_parser::oid_registry::Oid::from(&[2, 5, 4, 17]).ok();
    let serial = x509_parser::oid_registry::Oid::from(&[2, 5, 4, 5]).ok();
    let by = |oid: &Option<x509_parser::oid_registry::Oid<'static>>| match oid {
        Some(o) => list(&mut n.iter_by_oid(o)),
        None => Json::Null,
    };
    json!({
        "Country": list(&mut n.iter_country()),
        "Organization": list(&mut n.iter_organization()),
        "OrganizationalUnit": list(&mut n.iter_organizational_unit()),
        "Locality": list(&mut n.iter_locality()),
        "Province": list(&mut n.iter_state_or_province()),
        "StreetAddress": by(&street),
        "PostalCode": by(&postal),
        "SerialNumber": serial
            .as_ref()
            .and_then(|o| n.iter_by_oid(o).next())
            .and_then(|a| a.as_str().ok())
            .unwrap_or(""),
        "CommonName": n.iter_common_name().next().and_then(|a| a.as_str().ok()).unwrap_or(""),
        "Names": names,
        "ExtraNames": Json::Null,
    })
}

fn public_key(spki: &SubjectPublicKeyInfo) -> Result<Json, String> {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let n = x509_parser::num_bigint::BigUint::from_bytes_be(rsa.modulus);
            let e = rsa
                .exponent
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            Ok(json!({"N": n.to_string(), "E": e}))
        }
        _ => Err("certificate should use rsa algorithm".into()),
    }
}

/// `DNSNames`, `EmailAddresses`, `IPAddresses`, `URIs` of a subject alternative name.
fn alt_names(out: &mut Map<String, Json>, names: &[GeneralName]) {
    let mut dns = Vec::new();
    let mut email = Vec::new();
    let mut ips = Vec::new();
    let mut uris = Vec::new();
    for n in names {
        match n {
            GeneralName::DNSName(s) => dns.push(json!(s)),
            GeneralName::RFC822Name(s) => email.push(json!(s)),
            GeneralName::URI(s) => uris.push(json!(s)),
            GeneralName::IPAddress(b) => {
                let ip = match b.len() {
                    4 => <[u8; 4]>::try_from(*b).map(|a| std::net::IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(*b).map(|a| std::net::IpAddr::from(a).to_string()),
                    _ => continue,
                };
                if let Ok(ip) = ip {
                    ips.push(json!(ip));
                }
            }
            _ => {}
        }
    }
    let or_null = |v: Vec<Json>| {
        if v.is_empty() {
            Json::Null
        } else {
            Json::Array(v)
        }
    };
    out.insert("DNSNames".into(), or_null(dns));
    out.insert("EmailAddresses".into(), or_null(email));
    out.insert("IPAddresses".into(), or_null(ips));
    out.insert("URIs".into(), or_null(uris));
}

fn time(t: &x509_parser::time::ASN1Time) -> Json {
    json!(super::functions::format_rfc3339(t.timestamp() as f64))
}

fn certificate(der: &[u8]) -> Result<Json, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("invalid certificate: {e}"))?;
    let mut out = Map::new();
    out.insert("PublicKey".into(), public_key(cert.public_key())?);
    out.insert("Version".into(), json!(cert.version().0 + 1));
    let serial: f64 = cert.serial.to_string().parse().unwrap_or(f64::NAN);
    out.insert("SerialNumber".into(), json!(serial));
    out.insert("Issuer".into(), name(cert.issuer()));
    out.insert("Subject".into(), name(cert.subject()));
    out.insert("NotBefore".into(), time(&cert.validity().not_before));
    out.insert("NotAfter".into(), time(&cert.validity().not_after));
    let bc = cert.basic_constraints().ok().flatten();
    out.insert("BasicConstraintsValid".into(), json!(bc.is_some()));
    out.insert("IsCA".into(), json!(bc.is_some_and(|b| b.value.ca)));
    let key_usage = cert.key_usage().ok().flatten().map_or(0, |k| k.value.flags);
    out.insert("KeyUsage".into(), json!(key_usage));
    let san = cert.subject_alternative_name().ok().flatten();
    alt_names(
        &mut out,
        san.map(|s| s.value.general_names.as_slice()).unwrap_or(&[]),
    );
    Ok(Json::Object(out))
}

fn request(der: &[u8]) -> Result<Json, String> {
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| format!("invalid certificate request: {e}"))?;
    let info = &csr.certification_request_info;
    let mut out = Map::new();
    out.insert("Version".into(), json!(info.version.0));
    out.insert("Subject".into(), name(&info.subject));
    out.insert(
        "PublicKey".into(),
        public_key(&info.subject_pki).unwrap_or(Json::Null),
    );
    let mut names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = e {
                names.extend(san.general_names.iter().cloned());
            }
        }
    }
    alt_names(&mut out, &names);
    Ok(Json::Object(out))
}

/// Decodes a PEM `CERTIFICATE` or `CERTIFICATE REQUEST`.
pub fn decode(pem_text: &str) -> Result<Json, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.trim_start().as_bytes())
        .map_err(|_| "invalid certificate".to_string())?;
    match pem.label.as_str() {
        "CERTIFICATE" => certificate(&pem.contents),
        "CERTIFICATE REQUEST" => request(&pem.contents),
        other => Err(format!("PEM block of type {other} is not a certificate")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/x509")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn certificate_fields_as_go_names_them() {
        let c = decode(&fixture("cert.pem")).unwrap();
        assert_eq!(c["Subject"]["CommonName"], "web.shop.example");
        assert_eq!(c["Subject"]["Organization"], json!(["Example Shop"]));
        assert_eq!(c["Subject"]["OrganizationalUnit"], json!(["Platform"]));
        assert_eq!(c["Subject"]["Country"], json!(["US"]));
        assert_eq!(c["Subject"]["Locality"], Json::Null);
        assert_eq!(c["Issuer"]["CommonName"], "web.shop.example");
        assert_eq!(
            c["Subject"]["Names"][0],
            json!({"Type": [2, 5, 4, 6], "Value": "US"})
        );
        assert_eq!(
            c["DNSNames"],
            json!(["web.shop.example", "www.shop.example"])
        );
        assert_eq!(c["IPAddresses"], json!(["10.0.0.1"]));
        assert_eq!(c["EmailAddresses"], json!(["ops@shop.example"]));
        assert_eq!(c["Version"], 3);
        assert_eq!(c["IsCA"], false);
        assert_eq!(c["BasicConstraintsValid"], true);
        assert_eq!(c["NotBefore"], "2026-12-02T05:18:46Z");
        assert_eq!(c["NotAfter"], "2036-11-29T05:18:46Z");
        assert_eq!(c["PublicKey"]["E"], 65537);
        assert!(c["PublicKey"]["N"].as_str().unwrap().len() > 600);
    }

    #[test]
    fn certificate_requests_and_bad_input() {
        let r = decode(&fixture("csr.pem")).unwrap();
        assert_eq!(r["Subject"]["CommonName"], "system:node:worker-1");
        assert_eq!(r["Subject"]["Organization"], json!(["system:nodes"]));
        assert_eq!(r["DNSNames"], json!(["worker-1.cluster.local"]));
        assert_eq!(decode("not a pem").unwrap_err(), "invalid certificate");
    }

    #[test]
    fn through_jmespath_as_the_policy_library_calls_it() {
        // inspect-csr: x509_decode(base64_decode(request.object.spec.request)).Subject
        let encoded = super::super::functions::base64_encode(fixture("csr.pem").as_bytes());
        let ctx = super::super::vars::Context::new(
            json!({"request": {"object": {"spec": {"request": encoded}}}}),
        );
        assert_eq!(
            ctx.query("x509_decode(base64_decode(request.object.spec.request)).Subject.CommonName")
                .unwrap(),
            json!("system:node:worker-1")
        );
        assert!(ctx.query("x509_decode('junk')").is_err());
    }
}
