"""engine.diagram: SVG from a file's own BPMNDI, for our processes and for a file another modeler wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.diagram import NoDiagram, render_svg

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("processes/*.bpmn"), *ROOT.glob("bench/processes/*.bpmn")])
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
NS = {"svg": "http://www.w3.org/2000/svg", "bpmn": BPMN, "bpmndi": BPMNDI}

# In the style of a bpmn.io / Camunda Modeler 5 export: BPMN as the default namespace, omgdc/omgdi prefixes,
# two pools (the seller's above the origin, so coordinates go negative), message flows between them, a data
# store, an annotation with an association, an event-based gateway, and a task with no name.
MODELER_FILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:omgdc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:omgdi="http://www.omg.org/spec/DD/20100524/DI"
  id="Definitions_0x1" targetNamespace="http://bpmn.io/schema/bpmn"
  exporter="Camunda Modeler" exporterVersion="5.16.0">
  <collaboration id="Collaboration_1">
    <participant id="Participant_Buyer" name="Buyer" processRef="Process_Buyer" />
    <participant id="Participant_Seller" name="Seller &amp; Co &lt;EU&gt;" processRef="Process_Seller" />
    <messageFlow id="MessageFlow_Order" name="order" sourceRef="Task_Send" targetRef="Start_Seller" />
    <messageFlow id="MessageFlow_Reply" sourceRef="Task_Confirm" targetRef="Catch_Reply" />
  </collaboration>
  <process id="Process_Buyer" isExecutable="false">
    <startEvent id="StartEvent_1"><outgoing>Flow_1</outgoing></startEvent>
    <sendTask id="Task_Send" name="Send the purchase order">
      <incoming>Flow_1</incoming><outgoing>Flow_2</outgoing>
      <dataOutputAssociation id="DataOutputAssociation_1"><targetRef>DataStoreReference_1</targetRef>
      </dataOutputAssociation>
    </sendTask>
    <eventBasedGateway id="Gateway_Wait"><incoming>Flow_2</incoming><outgoing>Flow_3</outgoing>
      <outgoing>Flow_4</outgoing></eventBasedGateway>
    <intermediateCatchEvent id="Catch_Reply" name="Reply received">
      <incoming>Flow_3</incoming><outgoing>Flow_5</outgoing><messageEventDefinition id="Def_1" />
    </intermediateCatchEvent>
    <intermediateCatchEvent id="Timer_Wait" name="3 days">
      <incoming>Flow_4</incoming><outgoing>Flow_6</outgoing>
      <timerEventDefinition id="Def_2"><timeDuration>P3D</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <endEvent id="End_Done" name="Done"><incoming>Flow_5</incoming></endEvent>
    <endEvent id="End_Timeout" name="Gave up"><incoming>Flow_6</incoming>
      <terminateEventDefinition id="Def_3" /></endEvent>
    <dataStoreReference id="DataStoreReference_1" name="ERP" />
    <sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Task_Send" />
    <sequenceFlow id="Flow_2" sourceRef="Task_Send" targetRef="Gateway_Wait" />
    <sequenceFlow id="Flow_3" sourceRef="Gateway_Wait" targetRef="Catch_Reply" />
    <sequenceFlow id="Flow_4" sourceRef="Gateway_Wait" targetRef="Timer_Wait" />
    <sequenceFlow id="Flow_5" sourceRef="Catch_Reply" targetRef="End_Done" />
    <sequenceFlow id="Flow_6" sourceRef="Timer_Wait" targetRef="End_Timeout" />
    <textAnnotation id="TextAnnotation_1"><text>Orders above 10 000 EUR need a second signature</text></textAnnotation>
    <association id="Association_1" sourceRef="Task_Send" targetRef="TextAnnotation_1" />
  </process>
  <process id="Process_Seller" isExecutable="false">
    <startEvent id="Start_Seller" name="Order received"><outgoing>SF_1</outgoing>
      <messageEventDefinition id="Def_4" /></startEvent>
    <task id="Task_Check"><incoming>SF_1</incoming><outgoing>SF_2</outgoing></task>
    <userTask id="Task_Confirm" name="Confirm the order"><incoming>SF_2</incoming><outgoing>SF_3</outgoing></userTask>
    <endEvent id="End_Seller"><incoming>SF_3</incoming></endEvent>
    <sequenceFlow id="SF_1" sourceRef="Start_Seller" targetRef="Task_Check" />
    <sequenceFlow id="SF_2" sourceRef="Task_Check" targetRef="Task_Confirm" />
    <sequenceFlow id="SF_3" sourceRef="Task_Confirm" targetRef="End_Seller" />
  </process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Collaboration_1">
      <bpmndi:BPMNShape id="Participant_Buyer_di" bpmnElement="Participant_Buyer" isHorizontal="true">
        <omgdc:Bounds x="100" y="60" width="900" height="300" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Participant_Seller_di" bpmnElement="Participant_Seller" isHorizontal="true">
        <omgdc:Bounds x="100" y="-300" width="900" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="_BPMNShape_StartEvent_2" bpmnElement="StartEvent_1">
        <omgdc:Bounds x="160" y="162" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Task_Send_di" bpmnElement="Task_Send">
        <omgdc:Bounds x="250" y="140" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Gateway_Wait_di" bpmnElement="Gateway_Wait">
        <omgdc:Bounds x="405" y="155" width="50" height="50" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Catch_Reply_di" bpmnElement="Catch_Reply">
        <omgdc:Bounds x="512" y="162" width="36" height="36" />
        <bpmndi:BPMNLabel><omgdc:Bounds x="494" y="205" width="72" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Timer_Wait_di" bpmnElement="Timer_Wait">
        <omgdc:Bounds x="512" y="272" width="36" height="36" />
        <bpmndi:BPMNLabel><omgdc:Bounds x="513" y="315" width="34" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_Done_di" bpmnElement="End_Done">
        <omgdc:Bounds x="612" y="162" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_Timeout_di" bpmnElement="End_Timeout">
        <omgdc:Bounds x="612" y="272" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="DataStoreReference_1_di" bpmnElement="DataStoreReference_1">
        <omgdc:Bounds x="275" y="275" width="50" height="50" />
        <bpmndi:BPMNLabel><omgdc:Bounds x="290" y="332" width="20" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="TextAnnotation_1_di" bpmnElement="TextAnnotation_1">
        <omgdc:Bounds x="380" y="70" width="220" height="45" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Start_Seller_di" bpmnElement="Start_Seller">
        <omgdc:Bounds x="282" y="-193" width="36" height="36" />
        <bpmndi:BPMNLabel><omgdc:Bounds x="264" y="-150" width="72" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Task_Check_di" bpmnElement="Task_Check">
        <omgdc:Bounds x="380" y="-215" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Task_Confirm_di" bpmnElement="Task_Confirm">
        <omgdc:Bounds x="530" y="-215" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_Seller_di" bpmnElement="End_Seller">
        <omgdc:Bounds x="682" y="-193" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1">
        <omgdi:waypoint x="196" y="180" /><omgdi:waypoint x="250" y="180" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_2_di" bpmnElement="Flow_2">
        <omgdi:waypoint x="350" y="180" /><omgdi:waypoint x="405" y="180" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_3_di" bpmnElement="Flow_3">
        <omgdi:waypoint x="455" y="180" /><omgdi:waypoint x="512" y="180" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_4_di" bpmnElement="Flow_4">
        <omgdi:waypoint x="430" y="205" /><omgdi:waypoint x="430" y="290" /><omgdi:waypoint x="512" y="290" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_5_di" bpmnElement="Flow_5">
        <omgdi:waypoint x="548" y="180" /><omgdi:waypoint x="612" y="180" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Flow_6_di" bpmnElement="Flow_6">
        <omgdi:waypoint x="548" y="290" /><omgdi:waypoint x="612" y="290" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="DataOutputAssociation_1_di" bpmnElement="DataOutputAssociation_1">
        <omgdi:waypoint x="300" y="220" /><omgdi:waypoint x="300" y="275" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Association_1_di" bpmnElement="Association_1">
        <omgdi:waypoint x="340" y="140" /><omgdi:waypoint x="380" y="95" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="SF_1_di" bpmnElement="SF_1">
        <omgdi:waypoint x="318" y="-175" /><omgdi:waypoint x="380" y="-175" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="SF_2_di" bpmnElement="SF_2">
        <omgdi:waypoint x="480" y="-175" /><omgdi:waypoint x="530" y="-175" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="SF_3_di" bpmnElement="SF_3">
        <omgdi:waypoint x="630" y="-175" /><omgdi:waypoint x="682" y="-175" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="MessageFlow_Order_di" bpmnElement="MessageFlow_Order">
        <omgdi:waypoint x="300" y="140" /><omgdi:waypoint x="300" y="-157" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="MessageFlow_Reply_di" bpmnElement="MessageFlow_Reply">
        <omgdi:waypoint x="580" y="-135" /><omgdi:waypoint x="580" y="0" />
        <omgdi:waypoint x="530" y="0" /><omgdi:waypoint x="530" y="162" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</definitions>
"""


def svg_of(xml: bytes, **options) -> etree._Element:
    return etree.fromstring(render_svg(xml, **options).encode())


def groups(svg: etree._Element, element_id: str) -> list[etree._Element]:
    return svg.xpath("//svg:g[@data-element-id=$id]", namespaces=NS, id=element_id)


def group(svg: etree._Element, element_id: str) -> etree._Element:
    (found,) = groups(svg, element_id)
    return found


def texts(node: etree._Element) -> list[str]:
    return [span.text for span in node.iterfind(".//svg:tspan", NS)]


def legend(svg: etree._Element) -> list[str]:
    return svg.xpath("//svg:g[@class='legend']//svg:tspan/text()", namespaces=NS)


def drawn_ids(path: Path) -> tuple[list[str], list[str]]:
    """The ids the picture must show: elements inside a process that have a shape, sequence flows with an edge."""
    root = etree.parse(str(path)).getroot()
    shaped = set(root.xpath("//bpmndi:BPMNShape/@bpmnElement", namespaces=NS))
    edged = set(root.xpath("//bpmndi:BPMNEdge/@bpmnElement", namespaces=NS))
    nodes = [node.get("id") for node in root.xpath("//bpmn:process//*[@id]", namespaces=NS)
             if node.get("id") in shaped]
    flows = [flow.get("id") for flow in root.iterfind(".//bpmn:sequenceFlow", NS) if flow.get("id") in edged]
    return nodes, flows


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_shape_and_flow_of_our_files_is_drawn_once(path):
    nodes, flows = drawn_ids(path)
    assert nodes and flows
    svg = svg_of(path.read_bytes(), title=path.stem)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("svg:title", NS).text == path.stem
    for element_id in nodes + flows:
        assert len(groups(svg, element_id)) == 1, element_id


def test_the_canvas_fits_the_diagram_with_a_margin():
    svg = svg_of((ROOT / "processes/quality_plan.bpmn").read_bytes())
    x, y, width, height = (float(value) for value in svg.get("viewBox").split())
    assert (x, y) == (140, 60)  # the pool starts at 160,80
    assert (float(svg.get("width")), float(svg.get("height"))) == (width, height)
    assert x + width >= 1060 + 20 and y + height >= 480 + 20


def test_painted_states_and_their_legend():
    svg = svg_of((ROOT / "processes/quality_plan.bpmn").read_bytes(),
                 states={"draft_plan": "completed", "approve_plan": "ready", "no_such_task": "error"})
    assert group(svg, "draft_plan").get("data-state") == "completed"
    assert group(svg, "approve_plan").get("data-state") == "ready"
    assert group(svg, "issue_plan").get("data-state") is None
    assert legend(svg) == ["completed", "ready"]  # the unknown id is ignored, so no "error"


def test_an_error_on_a_service_task_is_painted():
    xml = (ROOT / "processes/quality_plan.bpmn").read_bytes()
    plain, painted = svg_of(xml), svg_of(xml, states={"issue_plan": "error"})
    assert group(painted, "issue_plan").get("data-kind") == "serviceTask"
    assert group(painted, "issue_plan").get("data-state") == "error"
    outline = "svg:rect[1]"
    assert group(painted, "issue_plan").find(outline, NS).get("stroke") != (
        group(plain, "issue_plan").find(outline, NS).get("stroke"))
    assert group(painted, "issue_plan").find("svg:g[@class='marker serviceTask']", NS) is not None
    assert legend(painted) == ["error"]


def test_a_timer_waiting_on_a_non_interrupting_boundary_event():
    svg = svg_of((ROOT / "processes/nc_followup.bpmn").read_bytes(), states={"remind_timer": "waiting"})
    timer = group(svg, "remind_timer")
    assert (timer.get("data-kind"), timer.get("data-state")) == ("boundaryEvent", "waiting")
    circles = timer.findall("svg:circle", NS)
    assert len(circles) == 2 and all(circle.get("stroke-dasharray") for circle in circles)
    assert timer.find("svg:g[@class='marker timerEventDefinition']", NS) is not None
    assert texts(timer) == ["到期前提醒"]
    assert legend(svg) == ["waiting on a timer"]


def test_names_wrap_by_characters_in_chinese_and_by_words_in_latin():
    nc = svg_of((ROOT / "processes/nc_followup.bpmn").read_bytes())
    assert texts(group(nc, "implement")) == ["实施纠正措施", "并提交证据"]
    modeler = svg_of(MODELER_FILE)
    lines = texts(group(modeler, "Task_Send"))
    assert len(lines) > 1 and " ".join(lines) == "Send the purchase order"


def test_a_file_from_another_modeler_is_drawn_whole():
    root = etree.fromstring(MODELER_FILE)
    refs = root.xpath("//bpmndi:BPMNShape/@bpmnElement | //bpmndi:BPMNEdge/@bpmnElement", namespaces=NS)
    svg = svg_of(MODELER_FILE)
    for ref in refs:
        assert len(groups(svg, ref)) == 1, ref
    kinds = {ref: group(svg, ref).get("data-kind") for ref in refs}
    assert kinds["Gateway_Wait"] == "eventBasedGateway"
    assert kinds["DataStoreReference_1"] == "dataStoreReference"
    assert kinds["MessageFlow_Order"] == "messageFlow"
    assert group(svg, "MessageFlow_Order").find("svg:polyline", NS).get("stroke-dasharray")
    assert group(svg, "Association_1").find("svg:polyline", NS).get("stroke-dasharray")
    assert group(svg, "Flow_1").find("svg:polyline", NS).get("stroke-dasharray") is None
    assert texts(group(svg, "Task_Check")) == []
    assert texts(group(svg, "MessageFlow_Order")) == ["order"]  # no label bounds: placed on the edge
    assert texts(group(svg, "Participant_Seller")) == ["Seller & Co <EU>"]
    assert " ".join(texts(group(svg, "TextAnnotation_1"))) == "Orders above 10 000 EUR need a second signature"
    x, y, _, _ = (float(value) for value in svg.get("viewBox").split())
    assert y < -300 and x < 100


def test_odd_parts_are_skipped_or_drawn_plainly_never_raised():
    odd = MODELER_FILE.replace(b"<bpmndi:BPMNPlane", b"<!-- odd parts follow --><bpmndi:BPMNPlane").replace(
        b"</bpmndi:BPMNPlane>",
        b"""<bpmndi:BPMNShape id="Ghost_di" bpmnElement="Ghost_1"><omgdc:Bounds x="700" y="80" width="80"
              height="40" /></bpmndi:BPMNShape>
            <bpmndi:BPMNShape id="Unplaced_di" bpmnElement="End_Done" />
            <bpmndi:BPMNShape id="Broken_di" bpmnElement="End_Timeout"><omgdc:Bounds x="a" y="1" width="2"
              height="3" /></bpmndi:BPMNShape>
            <bpmndi:BPMNEdge id="Short_di" bpmnElement="Flow_1"><omgdi:waypoint x="1" y="2" /></bpmndi:BPMNEdge>
            <bpmndi:BPMNShape id="Choreo_di" bpmnElement="Choreo_1"><omgdc:Bounds x="800" y="80" width="80"
              height="40" /></bpmndi:BPMNShape>
          </bpmndi:BPMNPlane>""").replace(
        b"</collaboration>", b'<choreographyTask id="Choreo_1" name="Haggle" /></collaboration>')
    svg = svg_of(odd)
    assert group(svg, "Ghost_1").find("svg:rect", NS) is not None  # a dangling reference: a plain rectangle
    assert texts(group(svg, "Choreo_1")) == ["Haggle"]  # an element not drawn here: a plain rectangle, named
    for ref in ("End_Done", "End_Timeout", "Flow_1"):  # only the proper shape or edge of each
        assert len(groups(svg, ref)) == 1


# One of every other kind drawn: id, kind, the element, its bounds. The pool is vertical.
KINDS = [
    ("collapsed", "subProcess", '<subProcess id="collapsed" name="Collapsed"><multiInstanceLoopCharacteristics '
     'isSequential="true" /></subProcess>', (20, 50, 100, 80)),
    ("event_sub", "subProcess", '<subProcess id="event_sub" name="Events" triggeredByEvent="true" />',
     (150, 50, 250, 120)),
    ("transaction", "transaction", '<transaction id="transaction" name="Transaction" />', (420, 50, 250, 120)),
    ("inclusive", "inclusiveGateway", '<inclusiveGateway id="inclusive" />', (20, 200, 50, 50)),
    ("complex", "complexGateway", '<complexGateway id="complex" />', (90, 200, 50, 50)),
    ("throw", "intermediateThrowEvent", '<intermediateThrowEvent id="throw" name="Throw"><signalEventDefinition />'
     "</intermediateThrowEvent>", (300, 207, 36, 36)),
    ("failed", "endEvent", '<endEvent id="failed" name="Failed"><errorEventDefinition /></endEvent>',
     (370, 207, 36, 36)),
    ("report", "dataObjectReference", '<dataObjectReference id="report" name="Report" />', (440, 200, 36, 50)),
    ("grouped", "group", '<group id="grouped" categoryValueRef="value" />', (10, 290, 400, 180)),
    ("manual", "manualTask", '<manualTask id="manual" name="Manual"><multiInstanceLoopCharacteristics />'
     "</manualTask>", (30, 330, 100, 80)),
    ("receive", "receiveTask", '<receiveTask id="receive" name="Receive" />', (150, 330, 100, 80)),
]


def test_every_other_kind_is_drawn():
    shapes = "".join(f'<bpmndi:BPMNShape id="{ref}_di" bpmnElement="{ref}"><dc:Bounds x="{x}" y="{y}" width="{w}" '
                     f'height="{h}" /></bpmndi:BPMNShape>' for ref, _, _, (x, y, w, h) in KINDS)
    xml = f"""<definitions xmlns="{BPMN}" xmlns:bpmndi="{BPMNDI}" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
      id="d"><collaboration id="c"><participant id="pool" name="Vertical" processRef="p" /></collaboration>
      <process id="p">{"".join(element for _, _, element, _ in KINDS)}</process>
      <category id="category"><categoryValue id="value" value="Grouped" /></category>
      <bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="c">
        <bpmndi:BPMNShape id="pool_di" bpmnElement="pool" isHorizontal="false">
          <dc:Bounds x="0" y="0" width="700" height="500" /></bpmndi:BPMNShape>{shapes}
      </bpmndi:BPMNPlane></bpmndi:BPMNDiagram></definitions>""".encode()
    svg = svg_of(xml)
    for ref, kind, _, _ in KINDS:
        assert group(svg, ref).get("data-kind") == kind
    assert texts(group(svg, "grouped")) == ["Grouped"]
    assert texts(group(svg, "pool")) == ["Vertical"]
    assert len(group(svg, "collapsed").findall("svg:rect", NS)) == 2  # the activity and its [+]
    assert group(svg, "event_sub").find("svg:rect", NS).get("stroke-dasharray")


def test_a_file_without_a_diagram_says_how_to_get_one():
    root = etree.parse(str(ROOT / "processes/quality_plan.bpmn")).getroot()
    for diagram in root.findall("bpmndi:BPMNDiagram", NS):
        root.remove(diagram)
    with pytest.raises(NoDiagram, match=r"^the file has no diagram \(BPMNDI\); open it in Camunda Modeler"):
        render_svg(etree.tostring(root))
    empty_plane = MODELER_FILE.split(b"<bpmndi:BPMNDiagram")[0] + (
        b'<bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="Collaboration_1" />'
        b"</bpmndi:BPMNDiagram></definitions>")
    with pytest.raises(NoDiagram):
        render_svg(empty_plane)


@pytest.mark.parametrize("garbage, message", [
    (b"", "malformed XML"),
    (b"this is not XML", "malformed XML"),
    (b"<definitions><process>", "malformed XML"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a BPMN 2.0 file"),
])
def test_garbage_is_a_one_line_value_error(garbage, message):
    with pytest.raises(ValueError, match=message) as raised:
        render_svg(garbage)
    assert not isinstance(raised.value, NoDiagram)
    assert "\n" not in str(raised.value)


def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError, match="unknown state 'done' for 'draft_plan'"):
        render_svg((ROOT / "processes/quality_plan.bpmn").read_bytes(), states={"draft_plan": "done"})


def test_text_is_escaped():
    svg = svg_of(MODELER_FILE, title='Buyer <&> "Seller"')
    assert svg.find("svg:title", NS).text == 'Buyer <&> "Seller"'
    assert "Seller &amp; Co &lt;EU&gt;" in render_svg(MODELER_FILE)


def test_the_same_input_gives_the_same_bytes():
    xml = (ROOT / "processes/nc_followup.bpmn").read_bytes()
    states = {"rectify": "completed", "verify": "ready", "remind_timer": "waiting", "reopen": "error"}
    first = render_svg(xml, states=states, title="不符合项跟踪")
    assert render_svg(xml, states=states, title="不符合项跟踪") == first
    assert render_svg(xml, states=dict(reversed(states.items())), title="不符合项跟踪") == first
    assert render_svg(MODELER_FILE) == render_svg(MODELER_FILE)
